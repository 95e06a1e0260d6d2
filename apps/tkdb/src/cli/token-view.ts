/**
 * Reading tokens on the command line: a token or `FlyV1` header parsed (a non-token is a typed
 * refusal that never echoes the input), each token described with its validity windows as dates
 * beside epoch seconds, and the one judgement `inspect` and `verify` share: is every window valid
 * at a given time, and if not, which caveat of which token fails.
 */
import { flyRegistry } from "@tkdb/caveats";
import {
  base64Encode,
  caveatSetToJSON,
  type Macaroon,
  MacaroonError,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import { CliError, defineConfig, KindError } from "@tkdb/service";
import { serviceEnv } from "../env.js";

/** TKDB_LOCATION alone: tkdb's own third-party location (the tickets petsem's reader tokens carry). */
export const locationEnv = defineConfig({ location: serviceEnv.location });

export interface ParsedToken {
  macaroon: Macaroon;
  role: "permission" | "discharge";
}

/**
 * Every token of a token or header; anything that is not all tokens is refused (exit 1). A token
 * whose nonce is a proof is a discharge; any other is a permission token (a discharge from tkdb has
 * tkdb's location too, so the location cannot tell them apart).
 */
export function parseTokens(text: string): ParsedToken[] {
  let parsed: ReturnType<typeof parseAuthorizationHeader>;
  try {
    parsed = parseAuthorizationHeader(text, { registry: flyRegistry });
  } catch (e) {
    if (!(e instanceof MacaroonError)) throw e;
    throw CliError.refused(`the input is not a token: ${e.code}`, { hint: TOKEN_HINT });
  }
  if (parsed.length === 0) throw CliError.refused("the input holds no token", { hint: TOKEN_HINT });
  return parsed.map((t, i) => {
    if (t.kind === "macaroon")
      return {
        macaroon: t.macaroon,
        role: t.macaroon.nonce.proof ? "discharge" : "permission",
      };
    const why =
      t.kind === "malformed" ? `malformed (${t.error.code})` : "not a macaroon (it lacks the token prefix)";
    throw CliError.refused(`token ${i + 1} of the input is ${why}`, {
      code: "invalid_request",
      hint: TOKEN_HINT,
    });
  });
}

const TOKEN_HINT = "pass a token (fm2_…) or a header (FlyV1 fm2_…,fm2_…), or - to read it from stdin";

/** Beyond year 9999 is "never" (Fly's unlimited windows use huge values). */
const MAX_DATE_S = 253402300799n;

export function isoOf(s: bigint): string {
  if (s > MAX_DATE_S) return "never";
  if (s < -62135596800n) return "the beginning of time";
  return new Date(Number(s) * 1000).toISOString().replace(".000Z", "Z");
}

/** A time given as ISO 8601 or unix seconds (for --at), in unix seconds. */
export function parseTime(text: string): bigint {
  const t = text.trim();
  if (/^-?\d{1,15}$/.test(t)) return BigInt(t);
  const ms = Date.parse(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t) || Number.isNaN(ms))
    throw new KindError("must be an ISO 8601 time (2026-12-02T15:00:00Z) or unix seconds");
  return BigInt(Math.floor(ms / 1000));
}

export interface WindowFailure {
  /** 1-based position of the token in the input. */
  token: number;
  role: ParsedToken["role"];
  /** 0-based caveat index in that token. */
  caveat: number;
  state: "expired" | "not_yet_valid";
  /** The bound that fails, unix seconds. */
  at: bigint;
}

/** The first ValidityWindow, over every token, that does not hold at `nowS`. */
export function windowFailure(tokens: readonly ParsedToken[], nowS: bigint): WindowFailure | undefined {
  for (const [ti, t] of tokens.entries())
    for (const [ci, c] of t.macaroon.unsafeCaveats.entries()) {
      if (!(c instanceof ValidityWindow)) continue;
      if (nowS > c.notAfter)
        return { token: ti + 1, role: t.role, caveat: ci, state: "expired", at: c.notAfter };
      if (nowS < c.notBefore)
        return { token: ti + 1, role: t.role, caveat: ci, state: "not_yet_valid", at: c.notBefore };
    }
  return undefined;
}

/** "token 2 (discharge) caveat 1 (ValidityWindow): expired at 2026-…Z (1796…)". */
export function describeFailure(f: WindowFailure): string {
  const what = f.state === "expired" ? "expired at" : "not valid before";
  return `token ${f.token} (${f.role}) caveat ${f.caveat} (ValidityWindow): ${what} ${isoOf(f.at)} (${f.at})`;
}

/** Epoch seconds as a JSON number when exact, else as a decimal string (Fly's "forever" values). */
function epoch(s: bigint): number | string {
  return Number.isSafeInteger(Number(s)) ? Number(s) : s.toString();
}

/** The readable, unverified view of one token (JSON-safe: bigints as numbers or strings). */
export function describeToken(t: ParsedToken, nowS: bigint): Record<string, unknown> {
  const m = t.macaroon;
  const windows = m.unsafeCaveats.flatMap((c, i) =>
    c instanceof ValidityWindow
      ? [
          {
            caveat: i,
            not_before: epoch(c.notBefore),
            not_before_iso: isoOf(c.notBefore),
            not_after: epoch(c.notAfter),
            not_after_iso: isoOf(c.notAfter),
            expired: nowS > c.notAfter,
            not_yet_valid: nowS < c.notBefore,
          },
        ]
      : [],
  );
  const failure = windowFailure([t], nowS);
  return {
    role: t.role,
    unverified: true,
    location: m.location,
    nonce: base64Encode(m.nonce.encode()),
    kid: Buffer.from(m.nonce.kid).toString("hex"),
    proof: m.nonce.proof,
    status: failure === undefined ? (windows.length === 0 ? "no_expiry" : "valid") : failure.state,
    windows,
    caveats: caveatSetToJSON(m.unsafeCaveats, flyRegistry),
  };
}

const text = (v: unknown) =>
  JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString("base64url") : x,
  ) ?? "null";

/** The human form of `describeToken` results. */
export function formatTokens(views: readonly Record<string, unknown>[]): string {
  const out: string[] = [];
  for (const [i, v] of views.entries()) {
    const status = {
      valid: "valid now (unverified: signatures are not checked offline)",
      no_expiry: "NEVER EXPIRES",
      expired: "EXPIRED",
      not_yet_valid: "NOT YET VALID",
    }[v.status as string];
    out.push(`token ${i + 1}: ${v.role} token, ${status}`);
    out.push(`  location: ${v.location}`, `  nonce:    ${v.nonce}`, `  kid:      ${v.kid}`);
    out.push("  caveats:");
    const windows = new Map((v.windows as { caveat: number }[]).map((w) => [w.caveat, w]));
    for (const [ci, c] of (v.caveats as { type: string; body: unknown }[]).entries()) {
      const w = windows.get(ci) as Record<string, unknown> | undefined;
      if (w === undefined) {
        out.push(`    ${ci} ${c.type} ${text(c.body)}`);
        continue;
      }
      const mark = w.expired ? "  EXPIRED" : w.not_yet_valid ? "  NOT YET VALID" : "";
      out.push(
        `    ${ci} ValidityWindow ${w.not_before_iso} (${w.not_before}) .. ${w.not_after_iso} (${w.not_after})${mark}`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}
