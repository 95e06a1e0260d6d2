/**
 * A second line of defence behind the field allowlist (event.ts): text that looks like key or
 * token material is refused in every free-text identity field, so a token, a header or a key
 * passed by mistake into `subject` or `user` stops at the event instead of reaching the log.
 *
 * Refused:
 * - Fly token text (`FlyV1 …`, `fm1r_…`, `fm2_…`, `fo1_…`);
 * - a run of 32 or more hex digits (a key of 16 bytes or more, in hex);
 * - a run of 40 or more base64/base64url characters (a 32-byte key is 43 or 44 of them) unless it
 *   reads as words: pieces between `_`, `-` and `.`, each at most 24 characters, each in one case,
 *   and no `+`, `/` or `=`. A random 32-byte key passes that only with negligible probability
 *   (every piece of it would have to come out single-case); `DATABASE_URL_FOR_THE_PRIMARY`,
 *   `my-app-production-eu-west-1` and uuids do.
 * The cost: a 40+ character camelCase or mixed-case run without separators is refused too.
 */

const FLY_TOKEN = /FlyV1\s|(?:^|[^A-Za-z0-9])f[mo][0-9][a-z]?_[A-Za-z0-9+/=_-]{8}/;
const HEX_RUN = /[0-9a-fA-F]{32,}/;
const B64_RUN = /[A-Za-z0-9+/=_.-]{40,}/g;

function readsAsWords(run: string): boolean {
  if (/[+/=]/.test(run)) return false;
  return run
    .split(/[_.-]/)
    .every((piece) => piece.length <= 24 && !(/[a-z]/.test(piece) && /[A-Z]/.test(piece)));
}

export function looksLikeMaterial(s: string): boolean {
  if (FLY_TOKEN.test(s) || HEX_RUN.test(s)) return true;
  for (const m of s.matchAll(B64_RUN)) if (!readsAsWords(m[0])) return true;
  return false;
}
