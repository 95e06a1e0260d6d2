/**
 * The `Authorization: FlyV1 fm2_…,fm2_…` header (superfly/macaroon
 * `format.go`, `bundle/tokens.go`). Parsing is the bundle parser's lenient
 * one: schemes `FlyV1`/`Bearer` stripped (case-insensitive, repeatedly),
 * tokens trimmed, `fm2_`/`fm1r_`/`fm1a_` accepted, other tokens (e.g. OAuth
 * `fo1_`) kept aside, malformed ones kept with their error.
 */
import type { CaveatRegistry } from "./caveat.js";
import type { CryptoBackend } from "./crypto.js";
import { base64Decode, base64Encode } from "./encoding.js";
import { FormatError, LimitError, MacaroonError } from "./errors.js";
import { type MacaroonLimits, resolveLimits } from "./limits.js";
import { Macaroon, TOKEN_PREFIXES } from "./macaroon.js";

export type ParsedToken =
  | { kind: "macaroon"; str: string; bytes: Uint8Array; macaroon: Macaroon }
  | { kind: "non_macaroon"; str: string }
  | { kind: "malformed"; str: string; error: MacaroonError };

export type ParsedMacaroon = Extract<ParsedToken, { kind: "macaroon" }>;

export interface HeaderOptions {
  registry?: CaveatRegistry;
  limits?: Partial<MacaroonLimits>;
  backend?: CryptoBackend;
}

const SCHEME = /^(flyv1|bearer)(\s+|$)/i;

/** Go `StripAuthorizationScheme`: trim, then strip leading `FlyV1`/`Bearer` schemes, recursively. */
export function stripAuthorizationScheme(header: string): string {
  let h = header.trim();
  for (;;) {
    const m = SCHEME.exec(h);
    if (!m) return h;
    h = h.slice(m[0].length).trim();
  }
}

/**
 * Split a header into tokens. Never throws for bad tokens (they come back as
 * `malformed` or `non_macaroon`); throws LimitError for an oversized header or
 * too many tokens, checked before any decoding.
 */
export function parseAuthorizationHeader(header: string, opts: HeaderOptions = {}): ParsedToken[] {
  const limits = resolveLimits(opts.limits);
  if (typeof header !== "string") throw new FormatError("bad_header", "header must be a string");
  if (header.length > limits.maxHeaderBytes) {
    throw new LimitError(
      "maxHeaderBytes",
      limits.maxHeaderBytes,
      `header of ${header.length} characters exceeds ${limits.maxHeaderBytes}`,
    );
  }
  const body = stripAuthorizationScheme(header);
  if (body === "") return [];
  const parts = body.split(",");
  if (parts.length > limits.maxTokens) {
    throw new LimitError("maxTokens", limits.maxTokens, `${parts.length} tokens exceed ${limits.maxTokens}`);
  }
  const out: ParsedToken[] = [];
  for (const rawPart of parts) {
    const str = rawPart.trim();
    const us = str.indexOf("_");
    const prefix = us < 0 ? "" : str.slice(0, us + 1);
    if (!(TOKEN_PREFIXES as readonly string[]).includes(prefix)) {
      out.push({ kind: "non_macaroon", str });
      continue;
    }
    try {
      const bytes = base64Decode(str.slice(us + 1), "token");
      if (bytes.length === 0) throw new FormatError("blank_token", "blank token");
      const macaroon = Macaroon.decodeUnverified(bytes, opts);
      out.push({ kind: "macaroon", str, bytes, macaroon });
    } catch (e) {
      if (!(e instanceof MacaroonError)) throw e;
      out.push({ kind: "malformed", str, error: e });
    }
  }
  return out;
}

/** `FlyV1 fm2_<std base64>,…` (Go `ToAuthorizationHeader`): always the fm2_ label. */
export function encodeAuthorizationHeader(tokens: readonly (Uint8Array | Macaroon)[]): string {
  return `FlyV1 ${tokens.map((t) => (t instanceof Macaroon ? t.toString() : `fm2_${base64Encode(t)}`)).join(",")}`;
}

/**
 * Go `FindPermissionAndDischargeTokens`: decodable tokens located at
 * `permissionLocation` are permission tokens; every other decodable token is
 * a discharge candidate. Non-macaroons and malformed tokens are left out.
 */
export function findPermissionAndDischargeTokens(
  tokens: readonly ParsedToken[],
  permissionLocation: string,
): { permissionTokens: ParsedMacaroon[]; dischargeTokens: ParsedMacaroon[] } {
  const permissionTokens: ParsedMacaroon[] = [];
  const dischargeTokens: ParsedMacaroon[] = [];
  for (const t of tokens) {
    if (t.kind !== "macaroon") continue;
    (t.macaroon.location === permissionLocation ? permissionTokens : dischargeTokens).push(t);
  }
  return { permissionTokens, dischargeTokens };
}

/**
 * Go `ParsePermissionAndDischargeTokens(header, location)` in one call: parse
 * the header, then require exactly one permission token (a decodable token at
 * `permissionLocation`); every other decodable token is a discharge candidate.
 * Throws FormatError `invalid_request` when there is no permission token or
 * more than one (which one to verify would be ambiguous), and LimitError for
 * an oversized header. Nothing is verified: pass the result to `verify`.
 */
export function parsePermissionAndDischargeTokens(
  header: string,
  permissionLocation: string,
  opts: HeaderOptions = {},
): { permission: ParsedMacaroon; discharges: ParsedMacaroon[] } {
  const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(
    parseAuthorizationHeader(header, opts),
    permissionLocation,
  );
  const [permission, ...more] = permissionTokens;
  if (permission === undefined)
    throw new FormatError("invalid_request", `no permission token for ${JSON.stringify(permissionLocation)}`);
  if (more.length > 0)
    throw new FormatError(
      "invalid_request",
      `multiple permission tokens (${permissionTokens.length}) for ${JSON.stringify(permissionLocation)}`,
    );
  return { permission, discharges: dischargeTokens };
}
