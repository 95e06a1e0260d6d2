export { addressBucket } from "./address.js";
export { CipherState, MAX_MESSAGE_LENGTH, NONCE_MAX } from "./cipher-state.js";
export type {
  EncodedNoiseRequest,
  EncodeRequestOptions,
  NoiseCallOptions,
  NoisePost,
  NoisePostRequest,
  RawNoiseResponse,
} from "./client.js";
export { decodeResponse, encodeRequest, noiseCall } from "./client.js";
export type { BackendName, HashName, KeyPair, NoiseCrypto } from "./crypto.js";
export { getNative, noble, resolveBackend } from "./crypto.js";
export {
  NoiseArgumentError,
  NoiseDecryptError,
  NoiseError,
  NoiseHandshakeError,
  NoiseInvalidKeyError,
  NoiseMessageTooLargeError,
  NoiseNonceExhaustedError,
  NoiseRemoteError,
  NoiseStateError,
  NoiseTransportError,
} from "./errors.js";
export type { ErrorBody, NoiseApi, NoisePattern } from "./framing.js";
export {
  buildPrologue,
  decodeClientKey,
  decodeFrames,
  encodeClientKey,
  isValidRid,
  keyId,
  NOISE_APIS,
  NOISE_CLIENT_KEY_HEADER,
  NOISE_CONTENT_TYPE,
  NOISE_IK,
  NOISE_KK,
  NOISE_SERVER_KEY_HEADER,
  noisePath,
} from "./framing.js";
export type { HandshakeOptions, SplitResult } from "./handshake-state.js";
export { HandshakeState } from "./handshake-state.js";
export type { HttpLimits } from "./http-limits.js";
export {
  DEFAULT_HTTP_LIMITS,
  httpServerOptions,
  limitConnections,
  resolveHttpLimits,
} from "./http-limits.js";
export type { NodeListener, NodeRequestLike, NodeResponseLike } from "./node-http.js";
export { nodeNoiseListener } from "./node-http.js";
export { DEFAULT_MAX_RESPONSE, DEFAULT_TIMEOUT_MS, postNoise } from "./post.js";
export type { BasePattern, Protocol } from "./protocol.js";
export { parseProtocolName } from "./protocol.js";
export type {
  NoiseHandler,
  NoiseHandlerOptions,
  NoiseOp,
  NoiseOpContext,
  NoiseRequestInfo,
  NoiseServerEvent,
} from "./server.js";
export { createNoiseHandler, DEFAULT_SESSION_LIMITS, SERVER_ERROR_CODES } from "./server.js";
export {
  NOISE_SESSION_HEADER,
  REPLAY_WINDOW_BITS,
  SESSION_GONE_STATUS,
  SESSION_OP,
} from "./session.js";
export type { NoiseSessionOptions, SessionCallOptions } from "./session-client.js";
export { NoiseSession } from "./session-client.js";
export type { SessionLimits } from "./session-table.js";
export { hkdf, SymmetricState } from "./symmetric-state.js";
