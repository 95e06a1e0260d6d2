/**
 * The Access objects caveats judge (Go `macaroon.Access`): Fly's API access (`flyio.Access`),
 * the third-party auth service's discharge request (`auth.DischargeRequest`), and petsem's.
 * A caveat that receives an access of a kind it cannot judge fails closed (ErrInvalidAccess).
 */
import { type Access, PermissionError } from "@tkdb/macaroon";
import { type Action, ActionNone, isSubsetOf } from "./action.js";
import { INVALID_ACCESS, RESOURCE_UNSPECIFIED } from "./errors.js";

function unspecified(what: string): PermissionError {
  return new PermissionError(`resource unspecified: ${what}`, { code: RESOURCE_UNSPECIFIED });
}
function exclusive(what: string): PermissionError {
  return new PermissionError(`resources mutually exclusive: ${what}`, {
    code: "resources_mutually_exclusive",
  });
}

/**
 * Go `resset.Access`: an access that says what it does. IfPresent (13) and Action (26) judge any
 * such access (FlyioAccess, or your own); an access without a numeric `action` (PetsemAccess)
 * makes them fail closed with `invalid_access`.
 */
export interface ActionAccess extends Access {
  readonly action: Action;
}

/** The access's action if it is an ActionAccess (Go `a.(resset.Access)`), else undefined. */
export function actionOf(a: Access): Action | undefined {
  const v = (a as { action?: unknown }).action;
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff ? v : undefined;
}

export const FeatureLFSC = "litefs-cloud";

/** flyio.MemberFeatures: what a plain member may do with each org feature. */
export const MemberFeatures: Readonly<Record<string, Action>> = Object.freeze({
  wg: 0x1f,
  domain: 0x1f,
  site: 0x1f,
  builder: 0x1f,
  addon: 0x1f,
  checks: 0x1f,
  "litefs-cloud": 0x1f,
  membership: 1,
  billing: 1,
  authentication: 1,
  deletion: 0,
  document_signing: 0,
});

export const RoleMember = 1;
export const RoleBillingManager = 2;
export const RoleAdmin = 0xffffffff;

export interface FlyioAccessFields {
  action: Action;
  orgId?: bigint;
  appId?: bigint;
  appFeature?: string;
  feature?: string;
  volume?: string;
  machine?: string;
  machineFeature?: string;
  mutation?: string;
  sourceMachine?: string;
  sourceApp?: string;
  sourceOrganization?: string;
  sourceInstance?: string;
  cluster?: string;
  command?: readonly string[];
  storageObject?: string;
  /** Defaults to the time of construction. */
  now?: Date;
}

/** Go `flyio.Access`: one request against Fly's API. */
export class FlyioAccess implements ActionAccess {
  readonly f: Readonly<FlyioAccessFields>;
  private readonly at: Date;
  constructor(fields: FlyioAccessFields) {
    this.f = Object.freeze({ ...fields });
    this.at = fields.now ?? new Date();
  }

  now(): Date {
    return this.at;
  }

  get action(): Action {
    return this.f.action ?? ActionNone;
  }

  // Go's getters (GetOrgID, GetAppID, …): undefined where Go returns nil.
  get orgId(): bigint | undefined {
    return this.f.orgId;
  }
  get appId(): bigint | undefined {
    return this.f.appId;
  }
  get feature(): string | undefined {
    return this.f.feature;
  }
  get appFeature(): string | undefined {
    return this.f.appFeature;
  }
  get volume(): string | undefined {
    return this.f.volume;
  }
  get machine(): string | undefined {
    return this.f.machine;
  }
  get machineFeature(): string | undefined {
    return this.f.machineFeature;
  }
  get mutation(): string | undefined {
    return this.f.mutation;
  }
  get cluster(): string | undefined {
    return this.f.cluster;
  }
  get command(): readonly string[] | undefined {
    return this.f.command;
  }
  get storageObject(): string | undefined {
    return this.f.storageObject;
  }

  /** Go `Access.Validate`: the shape rules of a Fly access. */
  validate(): void {
    const f = this.f;
    if (f.orgId === undefined) throw unspecified("org");
    const orgLevel = [f.appId, f.feature, f.storageObject].filter((x) => x !== undefined).length;
    if (orgLevel > 1) throw exclusive("app, org-feature, storage object");
    const appLevel = [f.machine, f.volume, f.appFeature].filter((x) => x !== undefined).length;
    if (appLevel > 0 && f.appId === undefined) throw unspecified("app");
    if (appLevel > 1) throw exclusive("machine, volume, app feature");
    // lfsc feature-level resource: clusters (Go: no feature → unspecified, another → invalid).
    if (f.cluster !== undefined) {
      if (f.feature === undefined) throw unspecified(`feature ${FeatureLFSC}`);
      if (f.feature !== FeatureLFSC)
        throw new PermissionError(`invalid access: clusters require the ${FeatureLFSC} feature`, {
          code: INVALID_ACCESS,
        });
    }
    const machineLevel = [f.command, f.machineFeature].filter((x) => x !== undefined).length;
    if (machineLevel > 0 && f.machine === undefined) throw unspecified("machine");
    if (machineLevel > 1) throw exclusive("command execution, machine feature");
  }

  /** Go `Access.GetPermittedRoles`: admin-only feature use needs the admin role. */
  permittedRole(): number {
    const feat = this.f.feature;
    if (feat === undefined) return RoleMember;
    const member = MemberFeatures[feat];
    if (member === undefined || !isSubsetOf(this.action, member)) return RoleAdmin;
    return RoleMember;
  }
}

export interface FlyioAuth {
  userId: bigint;
  organizationIds: readonly bigint[];
}
export interface GoogleAuth {
  hd?: string;
  userId?: bigint;
  email?: string;
}
export interface GitHubAuth {
  orgIds: readonly bigint[];
  userId?: bigint;
  login?: string;
}

/** Go `auth.DischargeRequest`: what the authentication 3P knows about the requester. */
export class DischargeRequest implements Access {
  constructor(
    readonly r: {
      flyio?: readonly FlyioAuth[];
      google?: readonly GoogleAuth[];
      github?: readonly GitHubAuth[];
      /** When the requested discharge would expire. */
      expiry?: Date;
      now?: Date;
    },
  ) {}
  private readonly at = new Date();
  now(): Date {
    return this.r.now ?? this.at;
  }
  validate(): void {}
}

/** The operations of petsem's API (bit values of the SecretOps caveat). */
export const SecretOp = Object.freeze({
  set: 1,
  unset: 2,
  list: 4,
  rollback: 8,
  resolve: 16,
});
export type SecretOpName = keyof typeof SecretOp;

/** One request to petsem: an operation on one organization's app. */
export class PetsemAccess implements Access {
  private readonly at: Date;
  constructor(
    readonly op: SecretOpName,
    readonly orgId: bigint,
    readonly appId: bigint,
    now?: Date,
  ) {
    this.at = now ?? new Date();
  }
  now(): Date {
    return this.at;
  }
  validate(): void {
    if (!Object.hasOwn(SecretOp, this.op)) throw unspecified("operation");
    if (typeof this.orgId !== "bigint" || this.orgId <= 0n) throw unspecified("org");
    if (typeof this.appId !== "bigint" || this.appId <= 0n) throw unspecified("app");
  }
}
