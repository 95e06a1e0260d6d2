/**
 * TEST-ONLY HOOKS. Importing this module (`@tkdb/noise/unsafe-testing`) in production code is a
 * bug: fixed ephemeral keys destroy forward secrecy and make every handshake replayable.
 * It exists so known-answer vectors (which fix `e`) and cross-backend checks can run.
 */
import { abytes } from "./bytes.js";
import { type HandshakeState, UNSAFE_EPHEMERAL_HOOK } from "./handshake-state.js";

/**
 * Make the next `e` tokens written by `hs` use these secret keys, in order, instead of fresh
 * random ones. Test vectors only.
 */
export function UNSAFE_TEST_ONLY_injectEphemeralKeys(hs: HandshakeState, secretKeys: Uint8Array[]): void {
  hs[UNSAFE_EPHEMERAL_HOOK] = secretKeys.map((k, i) => Uint8Array.from(abytes(k, 32, `secretKeys[${i}]`)));
}
