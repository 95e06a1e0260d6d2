export {
  AUTH_LOCATION,
  DEFAULT_DISCHARGE_TTL,
  DEFAULT_LOCATION,
  loadConfig,
  loadServiceConfig,
  type ServiceConfig,
  type TkdbConfig,
} from "./env.js";
export { ConfigError, NotPrimaryError, TkdbError, type TkdbErrorCode } from "./errors.js";
export { type StartOptions, startTkdb, type TkdbHandle } from "./server.js";
export { nonceId } from "./tokens.js";
