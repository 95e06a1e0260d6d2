/** `health`: no token, no store; answers once the server is up. */
import type { NoiseOp } from "@tkdb/noise";

export function healthOp(): NoiseOp {
  return async () => ({ status: "ok" });
}
