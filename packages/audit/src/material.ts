/**
 * A second line of defence behind the field allowlist (event.ts): text that looks like key or
 * token material is refused in every free-text identity field, so a token, a header or a key
 * passed by mistake into `subject` or `user` stops at the event instead of reaching the log.
 *
 * Refused: Fly token text (`FlyV1 …`, `fm1r_…`, `fm2_…`, `fo1_…`), a run of 32 or more hex digits
 * (a 16-byte or longer key in hex), and a run of 40 or more base64/base64url characters that mixes
 * upper case, lower case and digits or uses 28 or more distinct characters (a 32-byte or longer key
 * in base64 or base64url is 43 or 44 characters). A random 32-byte key escapes this test with
 * probability below 10^-4 (no digit and fewer than 28 distinct characters); hex never escapes.
 * The cost is that an identity of 40+ characters written like random base64 (mixed case with
 * digits, no separators) is refused: ids, org and app slugs and UPPER_SNAKE secret names are not.
 */

const FLY_TOKEN = /FlyV1\s|(?:^|[^A-Za-z0-9])f[mo][0-9][a-z]?_[A-Za-z0-9+/=_-]{8}/;
const HEX_RUN = /[0-9a-fA-F]{32,}/;
const B64_RUN = /[A-Za-z0-9+/=_-]{40,}/g;

export function looksLikeMaterial(s: string): boolean {
  if (FLY_TOKEN.test(s) || HEX_RUN.test(s)) return true;
  for (const m of s.matchAll(B64_RUN)) {
    const run = m[0];
    const mixed = /[a-z]/.test(run) && /[A-Z]/.test(run) && /[0-9]/.test(run);
    if (mixed || new Set(run).size >= 28) return true;
  }
  return false;
}
