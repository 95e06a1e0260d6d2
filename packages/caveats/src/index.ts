/**
 * @tkdb/caveats: Fly.io's caveat types on @tkdb/macaroon, petsem's caveats, Access objects.
 *
 * `flyRegistry` knows every core, flyio, resset, auth and petsem type; decode with it to get typed
 * caveats (unknown types still pass through as UnregisteredCaveat and always prohibit).
 */
import { coreRegistry } from "@tkdb/macaroon";
import { authCodecs } from "./auth.js";
import { flyioCodecs } from "./flyio.js";
import { petsemCodecs } from "./petsem.js";
import { tkdbCodecs } from "./tkdb.js";

export {
  type ActionAccess,
  actionOf,
  DischargeRequest,
  FeatureLFSC,
  FlyioAccess,
  type FlyioAccessFields,
  type FlyioAuth,
  type GitHubAuth,
  type GoogleAuth,
  MemberFeatures,
  PetsemAccess,
  RoleAdmin,
  RoleBillingManager,
  RoleMember,
  SecretOp,
  type SecretOpName,
} from "./access.js";
export {
  type Action,
  ActionAll,
  ActionControl,
  ActionCreate,
  ActionDelete,
  ActionNone,
  ActionRead,
  ActionStar,
  ActionWrite,
  actionToString,
  isSubsetOf,
  parseAction,
} from "./action.js";
export {
  CavConfineGitHubOrg,
  CavConfineGoogleHD,
  CavConfineOrganization,
  CavConfineUser,
  CavFlyioUserID,
  CavGitHubUserID,
  CavGoogleUserID,
  CavMaxValidity,
  ConfineGitHubOrg,
  ConfineGoogleHD,
  ConfineOrganization,
  ConfineUser,
  FlyioUserID,
  GitHubUserID,
  GoogleUserID,
  getMaxValidity,
  MaxValidity,
} from "./auth.js";
export {
  type ActionLike,
  action,
  apps,
  type IdLike,
  ifPresent,
  organization,
  toAction,
  toU64,
} from "./builders.js";
export {
  BAD_CAVEAT,
  INVALID_ACCESS,
  isResourceUnspecified,
  RESOURCE_UNSPECIFIED,
  UNAUTHORIZED_FOR_ACTION,
  UNAUTHORIZED_FOR_RESOURCE,
  UNAUTHORIZED_FOR_ROLE,
} from "./errors.js";
export {
  ActionCaveat,
  AllowedRoles,
  AppFeatureSet,
  Apps,
  CavAction,
  CavAllowedRoles,
  CavAppFeatureSet,
  CavApps,
  CavClusters,
  CavCommands,
  CavFeatureSet,
  CavFlySrc,
  CavFromMachineSource,
  CavIfPresent,
  CavIsMember,
  CavIsUser,
  CavMachineFeatureSet,
  CavMachines,
  CavMutations,
  CavOrganization,
  CavStorageObjects,
  CavVolumes,
  Clusters,
  type Command,
  Commands,
  FeatureSet,
  FlySrc,
  FromMachine,
  IfPresent,
  IsMember,
  IsUser,
  MachineFeatureSet,
  Machines,
  Mutations,
  makeIfPresent,
  Organization,
  StorageObjects,
  Volumes,
} from "./flyio.js";
export { type JSONCaveat, LOGIN_TTL_S, loginDischarge, userTokenCaveats } from "./login.js";
export {
  BlockPetsemMax,
  BlockPetsemMin,
  CavSecretOps,
  CavSecretScope,
  READER_OPS,
  SecretOps,
  SecretScope,
  WRITER_OPS,
} from "./petsem.js";
export { type IdKind, ResourceSet } from "./resset.js";
export {
  BlockTkdbMax,
  BlockTkdbMin,
  CavServiceTokenNonce,
  CavUserTokenNonce,
  checkNonceBytes,
  getServiceTokenNonce,
  getUserTokenNonce,
  ServiceTokenNonce,
  UserTokenNonce,
} from "./tkdb.js";

/** Every caveat type this project knows: core (4, 11, 12), Fly's 0–31, petsem's block, tkdb's attestations. */
export const flyRegistry = coreRegistry.extend(...flyioCodecs, ...authCodecs, ...petsemCodecs, ...tkdbCodecs);
