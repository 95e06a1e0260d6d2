/**
 * @tkdb/litestream: one Litestream (v0.3.13 from @flydotio/litestream) for tkdb and petsem.
 * Config (rendered in 0.3 syntax, or an operator's file), replicate (ready, final sync on stop,
 * the one-replicator guard), restore, verified restore (from a replica or a `litefs export` file).
 */
export { LITESTREAM_VERSION, litestreamBinary } from "./binary.js";
export {
  type ConfigFile,
  type ConfigOptions,
  type ConfigSource,
  childEnv,
  DEFAULT_MONITOR_INTERVAL,
  DEFAULT_SYNC_INTERVAL,
  durationMs,
  type EnvObject,
  parseReplicaUrl,
  type RenderOptions,
  type ReplicaOptions,
  renderConfig,
} from "./config.js";
export {
  isLitestreamError,
  LitestreamError,
  type LitestreamErrorCode,
  type LitestreamErrorDetails,
} from "./errors.js";
export { forgetReplicator, liveReplicator, reapStaleReplicator, recordReplicator } from "./guard.js";
export { type ReadyInfo, type ReplicateOptions, type Replicator, replicate } from "./replicate.js";
export {
  checkedTimestamp,
  type ExportSource,
  type RestoreOptions,
  restore,
  type VerifiedRestoreOptions,
  type VerifiedRestoreResult,
  verifiedRestore,
} from "./restore.js";
export {
  type EnvOptions,
  type GenerationInfo,
  generations,
  type ListOptions,
  type SnapshotInfo,
  snapshots,
  summarizeLitestreamOutput,
} from "./run.js";
