/** `health` (verify API, anyone): up, and whether this node is the primary (LiteFS). */
import { isPrimary } from "../litefs.js";

export function health(litefsDir: string | undefined): { ok: true; primary: boolean } {
  return { ok: true, primary: isPrimary(litefsDir) };
}
