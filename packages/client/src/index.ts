export { type CacheEntry, type CacheLimits, VerificationCache } from "./cache.js";
export { ancestorOf, appendedCaveats, dischargeSetKey, type VerifiedAncestor } from "./chain.js";
export { ClientArgumentError, ClientError, TokenRefusedError, UnavailableError } from "./errors.js";
export { PetsemClient, type ResolveResult, type SecretMeta, type WriteResult } from "./petsem.js";
export { backoffDelay, type RetryOptions, withFailover } from "./retry.js";
export { type Endpoint, NoiseRpc, newRid, type RpcOptions } from "./rpc.js";
export { type Id, replicationOf, TkdbClient, type TkdbClientOptions, type TkdbVerified } from "./tkdb.js";
export {
  type Authority,
  CachingVerifier,
  type CachingVerifierOptions,
  defaultNonceId,
  type OnlineVerification,
  type ReplicationInfo,
  type RevocationPage,
  type VerifyOutcome,
} from "./verifier.js";
