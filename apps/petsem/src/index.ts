export { createPetsemApp, type PetsemAppOptions } from "./app.js";
export { cli, runPetsemCli } from "./cli/index.js";
export type { BackendName, Primitives } from "./crypto.js";
export { backends } from "./crypto.js";
export {
  DEFAULT_PETSEM_LOCATION,
  DEFAULT_SYNC_INTERVAL,
  DEFAULT_TKDB_LOCATION,
  type LitestreamConfig,
  loadConfig,
  type PetsemConfig,
  petsemEnv,
} from "./env.js";
export { ERROR_STATUS, isPetsemError, PetsemError, type PetsemErrorCode } from "./errors.js";
export {
  generations,
  litestreamBinary,
  type ReplicaSpec,
  type Replication,
  type ReplicationOptions,
  type RestoreBackupOptions,
  type RestoreOptions,
  restore,
  restoreBackup,
  startReplication,
} from "./litestream.js";
export type { Authorization, Authorizer, PetsemOp, SecretsStore } from "./rpc/index.js";
export {
  openPetsem,
  petsemDbFile,
  type RunningPetsem,
  type StartPetsemConfig,
  startPetsem,
} from "./server.js";
export {
  type CallContext,
  type ListRequest,
  type ListResult,
  type ResolveRequest,
  type ResolveResult,
  type RollbackRequest,
  type RollbackResult,
  SecretStore,
  type SecretStoreOptions,
  type SetRequest,
  type SetResult,
  type UnsetRequest,
} from "./store.js";
export {
  type MintOptions,
  OP_BITS,
  PetsemAuthority,
  type PetsemAuthorityOptions,
  type PetsemCaveatKit,
  READER_OPS,
  WRITER_OPS,
} from "./tokens.js";
export { LIMITS, NAME_RE } from "./validate.js";
