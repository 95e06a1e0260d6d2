export { type CanonicalOptions, canonicalJson } from "./canonical.js";
export { GENESIS_PREV, lineHash, type ParsedLine, parseLine } from "./chain.js";
export { auditExportCommand, auditVerifyCommand, type CommandIo, type ExportCommandOptions } from "./cli.js";
export {
  type AuditCliApp,
  type AuditCliContext,
  type AuditCommand,
  type AuditVerifyResult,
  auditExportCli,
  auditLogs,
  auditVerifyCli,
} from "./cli-commands.js";
export { AuditError, type AuditErrorCode, isAuditError } from "./errors.js";
export {
  AUDIT_FIELDS,
  AUDIT_FORMAT_VERSION,
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  type AuditEventInput,
  type AuditField,
  type AuditIds,
  type AuditKind,
  type AuditLine,
  type AuditOutcome,
  cliActor,
  MAX_NONCES,
  noiseActor,
  parseEventInput,
} from "./event.js";
export {
  EXPORT_FIELDS,
  type ExportOptions,
  eventId,
  exportBulk,
  INDEX_PREFIX_RE,
  indexName,
  type ShipOptions,
  type ShipResult,
  ship,
  toBulk,
} from "./export.js";
export { CHECKPOINT_FILE, type HeadRecord, SEGMENT_GLOB, segmentName } from "./files.js";
export {
  DEFAULT_IDEMPOTENCY_TTL_MS,
  DEFAULT_MAX_PER_CLIENT,
  IDEMPOTENCY_DDL,
  IDEMPOTENCY_MIGRATION_SQL,
  IDEMPOTENCY_TABLE,
  type IdempotencyCrypto,
  type IdempotencyOptions,
  IdempotencyRecords,
  type Lookup,
} from "./idempotency.js";
export { idempotencySealedColumn } from "./idempotency-column.js";
export { looksLikeMaterial } from "./material.js";
export { nonceRef, type TokenRef, tokenRef } from "./token-ref.js";
export {
  type Head,
  type ShippedResult,
  type VerifyFailure,
  type VerifyOptions,
  type VerifyResult,
  verify,
  verifyShipped,
} from "./verify.js";
export {
  type Appended,
  AuditLog,
  type AuditLogOptions,
  type CounterKey,
  type ReconcileDecision,
} from "./writer.js";
