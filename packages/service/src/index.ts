// Part 1: configuration, logging, errors, the CLI runner, HTTP listen/close.

export {
  type ArgDef,
  type CliDef,
  type CliIo,
  type CliWritable,
  type CommandContext,
  type CommandDef,
  command,
  defineCli,
  type OptionDef,
  runCli,
} from "./cli.js";
export {
  CliError,
  type CliErrorKind,
  type ErrorReport,
  EXIT_CODES,
  exitCodeFor,
  formatErrorHuman,
  formatHuman,
  type ListenSite,
  listenRefusal,
  reportError,
  toJsonText,
} from "./cli-output.js";
export {
  bool,
  type ConfigFs,
  type ConfigOf,
  type ConfigSpec,
  defineConfig,
  duration,
  type Env,
  host,
  int,
  key32,
  key32List,
  list,
  locationKeys,
  nodeConfigFs,
  oneOf,
  type ParsedConfig,
  type ParseOptions,
  parseConfig,
  port,
  string,
  url,
  type Var,
} from "./config.js";
export {
  type DevEnvOptions,
  type DevEnvResult,
  findRepositoryRoot,
  loadDevEnv,
  parseEnvFile,
} from "./config-envfile.js";
export {
  closest,
  describeConfig,
  envMarkdownTable,
  formatEnvHelp,
  type VarDescription,
} from "./config-help.js";
export {
  durationParser,
  enumParser,
  formatDuration,
  intParser,
  KindError,
  listParser,
  type Parser,
  parseBool,
  parseHost,
  parseKey32,
  parseLocationKeys,
  portParser,
  urlParser,
} from "./config-kinds.js";
export { CryptoArgumentError, constantTimeEqual, KEY_LEN, randomBytes, wipe } from "./crypto.js";
export {
  ConfigError,
  type ConfigProblem,
  type ErrorDetails,
  forWire,
  isServiceError,
  type ParsedWireError,
  parseWireError,
  ServiceError,
  type ServiceErrorOptions,
  toWire,
  WIRE_DETAIL_RULES,
  type WireError,
  WireRefusal,
  wireDetails,
} from "./errors.js";
export {
  type AliasName,
  CLIENT_ERROR_CODES,
  type CodeInfo,
  canonicalCode,
  codeInfo,
  codeIs,
  ERROR_CODE_ALIASES,
  ERROR_CODES,
  type ErrorCode,
  isErrorCode,
  isRetryable,
  statusOf,
} from "./errors-codes.js";
export {
  DEFAULT_HTTP_LIMITS,
  type FetchHandler,
  type HttpBindings,
  type HttpLimits,
  type Listening,
  type ListenOptions,
  listen,
  type NodeRequestListener,
  resolveLimits,
} from "./http.js";
export { addressBucket } from "./http-address.js";
export {
  type KekInfo,
  type KekRole,
  type KeyId,
  Keyring,
  type KeyringKeys,
  type Opened,
} from "./keyring.js";
export { type KeyringEnvOptions, keyringFromEnv, parseKek } from "./keyring-env.js";
export { isKeyringError, KeyringError, type KeyringErrorCode } from "./keyring-errors.js";
export { type Binding, isPurpose, PURPOSES, type Purpose, type RowPart } from "./keyring-format.js";
export { type LegacyFormat, type LegacyPetsemValuePlace, openLegacyPetsemValue } from "./keyring-legacy.js";
export {
  planRotation,
  type RotationCounts,
  type RotationPlan,
  type SealedRecord,
} from "./keyring-rotation.js";
export {
  type DatabaseRotationSpec,
  type KekCheckAccess,
  type KekRotationOptions,
  type KekRotationResult,
  kekRotation,
  rotateDatabaseKek,
  type SealedColumn,
} from "./keyring-rotation-db.js";
export {
  batchedStream,
  createLogger,
  LOG_LEVELS,
  type LogFields,
  type LogFn,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogStream,
  logRpcEvent,
  parseLogLevel,
  type RequestLog,
  type RequestOutcome,
  type RpcEvent,
  silentLogger,
  startRequest,
} from "./log.js";
export { containsMaterial, isSecretFieldName, REDACTED, redactValue, scrubString } from "./log-redact.js";
export { runMigrationsRacing } from "./migrate.js";
export {
  CLIENT_CACHE_EVENTS,
  CLIENT_FEED_LAG,
  registerVerifierMetrics,
  type VerifierMetricsSource,
} from "./telemetry/client-metrics.js";
export {
  AUDIT_CHECKPOINT_FILE,
  auditCheckpointAgeSeconds,
  type LitestreamLag,
  litestreamLag,
} from "./telemetry/lag.js";
export {
  createServiceMetrics,
  DEFAULT_BUCKETS,
  type GaugeRead,
  type ServiceMetrics,
  type ServiceMetricsOptions,
} from "./telemetry/metrics.js";
export {
  type MetricsServer,
  type MetricsServerOptions,
  startMetricsServer,
} from "./telemetry/metrics-server.js";
export { type OtlpTracingConfig, otlpTracingFromEnv, type SamplerName } from "./telemetry/otel-env.js";
export { otelEnv, otelVariables } from "./telemetry/otel-vars.js";
export { allowList as spanAttributeAllowList, BASE_SPAN_ATTRIBUTES } from "./telemetry/span-filter.js";
export {
  currentTraceparent,
  parentContext,
  type RpcSpan,
  type RpcSpanInfo,
  startTracing,
  type Tracing,
  type TracingOptions,
  traceparentOf,
} from "./telemetry/tracing.js";
