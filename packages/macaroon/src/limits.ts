import { DEFAULT_LIMITS, type DecodeLimits } from "./msgpack.js";

/** Every size/count/depth bound this package enforces. Exceeding one throws LimitError. */
export interface MacaroonLimits extends DecodeLimits {
  /** Size of an Authorization header string (characters). */
  maxHeaderBytes: number;
  /** Tokens in one Authorization header. */
  maxTokens: number;
  /** Discharge tokens accepted by one `verify` call. */
  maxDischarges: number;
}

export const DEFAULT_MACAROON_LIMITS: Readonly<MacaroonLimits> = Object.freeze({
  ...DEFAULT_LIMITS,
  maxHeaderBytes: 64 * 1024,
  maxTokens: 32,
  maxDischarges: 16,
});

export function resolveLimits(l?: Partial<MacaroonLimits>): Readonly<MacaroonLimits> {
  return l ? { ...DEFAULT_MACAROON_LIMITS, ...l } : DEFAULT_MACAROON_LIMITS;
}
