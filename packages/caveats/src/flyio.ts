/**
 * Fly.io's API caveats (superfly/macaroon `flyio/`, `resset/`), types 0–31 except the auth ones
 * (auth.ts) and the core ones (in @tkdb/macaroon). Bodies are encoded exactly as Go's msgpack
 * (array-encoded structs, compact ints, sorted resource-set keys); JSON forms are Go's.
 */
import {
  type Access,
  type Caveat,
  CaveatError,
  type CaveatRegistry,
  caveatSetFromJSON,
  caveatSetGoValue,
  caveatSetToJSON,
  decodeCaveatSet,
  jsonInteger,
  jsonObject,
  jsonString,
  type MacaroonError,
  type MsgpackReader,
  type MsgpackWriter,
  PermissionError,
  writeCaveatSet,
} from "@tkdb/macaroon";
import { actionOf, FlyioAccess, RoleMember } from "./access.js";
import { type Action, actionRemove, actionToString, isSubsetOf, parseAction } from "./action.js";
import { defineCodec, expectArray, structUintCodec, u64JSON } from "./codec.js";
import {
  deny,
  INVALID_ACCESS,
  isResourceUnspecified,
  RESOURCE_UNSPECIFIED,
  UNAUTHORIZED_FOR_ACTION,
  UNAUTHORIZED_FOR_RESOURCE,
  UNAUTHORIZED_FOR_ROLE,
} from "./errors.js";
import { type IdKind, ResourceSet } from "./resset.js";

export const CavOrganization = 0n;
export const CavVolumes = 2n;
export const CavApps = 3n;
export const CavFeatureSet = 5n;
export const CavMutations = 6n;
export const CavMachines = 7n;
export const CavIsUser = 10n;
export const CavIfPresent = 13n;
export const CavMachineFeatureSet = 14n;
export const CavFromMachineSource = 15n;
export const CavClusters = 16n;
export const CavIsMember = 22n;
export const CavAction = 26n;
export const CavCommands = 27n;
export const CavAppFeatureSet = 28n;
export const CavStorageObjects = 29n;
export const CavAllowedRoles = 30n;
export const CavFlySrc = 31n;

function flyio(a: Access, type: bigint): FlyioAccess | MacaroonError {
  return a instanceof FlyioAccess ? a : deny(INVALID_ACCESS, type, "invalid access for this caveat");
}

function actionDenied(type: bigint, action: Action, allowed: Action): MacaroonError {
  return deny(
    UNAUTHORIZED_FOR_ACTION,
    type,
    `unauthorized for action: access ${actionToString(action)} (${actionToString(actionRemove(action, allowed))} not allowed)`,
  );
}

/** Type 0: one organization, with an action mask (Go `flyio.Organization`). */
export class Organization implements Caveat {
  readonly type = CavOrganization;
  constructor(
    readonly id: bigint,
    readonly mask: Action,
  ) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(2).uint(this.id).uint(this.mask);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const f = flyio(a, this.type);
    if (!(f instanceof FlyioAccess)) return f;
    if (f.f.orgId === undefined) return deny(RESOURCE_UNSPECIFIED, this.type, "resource unspecified: org");
    if (f.f.orgId !== this.id)
      return deny(UNAUTHORIZED_FOR_RESOURCE, this.type, `unauthorized for org ${f.f.orgId}, only ${this.id}`);
    if (!isSubsetOf(f.action, this.mask)) return actionDenied(this.type, f.action, this.mask);
    return undefined;
  }
  bodyJSON(): unknown {
    return { id: jsonNum(this.id), mask: actionToString(this.mask) };
  }
}

function jsonNum(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function actionUint(r: MsgpackReader): Action {
  const at = r.offset;
  const v = r.uint();
  if (v > 0xffffn) throw new CaveatError("bad_caveat", `action out of range at byte ${at}`);
  return Number(v);
}

/** Resource-set caveats: one struct field holding a ResourceSet (Go `[map]`). */
type AccessField =
  | "appId"
  | "volume"
  | "machine"
  | "feature"
  | "machineFeature"
  | "appFeature"
  | "cluster"
  | "storageObject";

function resourceSetCaveat<K extends IdKind>(
  type: bigint,
  name: string,
  jsonField: string,
  kind: K,
  field: AccessField,
) {
  class RS implements Caveat {
    readonly type = type;
    constructor(readonly set: ResourceSet<K>) {}
    encodeBody(w: MsgpackWriter): void {
      w.array(1);
      this.set.encode(w);
    }
    prohibits(a: Access): MacaroonError | undefined {
      const f = flyio(a, type);
      if (!(f instanceof FlyioAccess)) return f;
      // biome-ignore lint/suspicious/noExplicitAny: the field's type matches K by construction
      return this.set.prohibits(f.f[field] as any, f.action, type);
    }
    bodyJSON(): unknown {
      return { [jsonField]: this.set.toJSON() };
    }
  }
  Object.defineProperty(RS, "name", { value: name });
  const codec = defineCodec(
    type,
    name,
    (r) => {
      expectArray(r, 1, name);
      return new RS(ResourceSet.decode(r, kind));
    },
    (body) =>
      new RS(ResourceSet.fromJSON(jsonObject(body, name)[jsonField] ?? null, kind, `${name}.${jsonField}`)),
  );
  return { Class: RS, codec };
}

export const Apps = resourceSetCaveat(CavApps, "Apps", "apps", "uint", "appId");
export const Volumes = resourceSetCaveat(CavVolumes, "Volumes", "volumes", "string", "volume");
export const Machines = resourceSetCaveat(CavMachines, "Machines", "machines", "string", "machine");
export const FeatureSet = resourceSetCaveat(CavFeatureSet, "FeatureSet", "features", "string", "feature");
export const MachineFeatureSet = resourceSetCaveat(
  CavMachineFeatureSet,
  "MachineFeatureSet",
  "features",
  "string",
  "machineFeature",
);
export const AppFeatureSet = resourceSetCaveat(
  CavAppFeatureSet,
  "AppFeatureSet",
  "features",
  "string",
  "appFeature",
);
export const Clusters = resourceSetCaveat(CavClusters, "Clusters", "clusters", "string", "cluster");
export const StorageObjects = resourceSetCaveat(
  CavStorageObjects,
  "StorageObjects",
  "storage_objects",
  "prefix",
  "storageObject",
);

/** Type 6: GraphQL mutations allowed (Go `flyio.Mutations`). A nil list encodes as nil. */
export class Mutations implements Caveat {
  readonly type = CavMutations;
  constructor(readonly mutations: readonly string[] | null) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(1);
    if (this.mutations === null) w.nil();
    else {
      w.array(this.mutations.length);
      for (const m of this.mutations) w.str(m);
    }
  }
  prohibits(a: Access): MacaroonError | undefined {
    const f = flyio(a, this.type);
    if (!(f instanceof FlyioAccess)) return f;
    // Go (flyio/caveats.go, Mutations.Prohibits, since the getter-interface rewrite): an access
    // naming no mutation is ErrResourceUnspecified, so IfPresent{Mutations} falls back to its Else.
    // (An older Go comment said the opposite; Go removed it.)
    if (f.f.mutation === undefined)
      return deny(
        RESOURCE_UNSPECIFIED,
        this.type,
        "resource unspecified: only authorized for graphql mutations",
      );
    if (!(this.mutations ?? []).includes(f.f.mutation))
      return deny(UNAUTHORIZED_FOR_RESOURCE, this.type, "unauthorized for mutation");
    return undefined;
  }
  bodyJSON(): unknown {
    return { mutations: this.mutations };
  }
}

function strList(r: MsgpackReader): string[] | null {
  if (r.isNil()) {
    r.nil();
    return null;
  }
  const n = r.array();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.str());
  return out;
}

function strListJSON(v: unknown, what: string): string[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new CaveatError("bad_caveat_json", `${what}: expected an array`);
  return v.map((x, i) => jsonString(x, `${what}[${i}]`));
}

/** Type 10 (deprecated): metadata naming a user; never restricts (Go `flyio.IsUser`). */
export class IsUser implements Caveat {
  readonly type = CavIsUser;
  constructor(readonly id: bigint) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(1).uint(this.id);
  }
  prohibits(): MacaroonError | undefined {
    return undefined;
  }
  bodyJSON(): unknown {
    return { uint64: jsonNum(this.id) };
  }
}

/**
 * Type 13 (Go `resset.IfPresent`): if any inner caveat is relevant to the access (returns
 * anything but ErrResourceUnspecified), those caveats decide; otherwise the action must be
 * within `else`.
 */
export class IfPresent implements Caveat {
  readonly type = CavIfPresent;
  /**
   * `reg` names the inner caveats in JSON; it is required so that bodyJSON can never drop them
   * (an IfPresent whose `ifs` vanished would allow everything its `else` allows).
   */
  constructor(
    readonly ifs: readonly Caveat[] | null,
    readonly elseAction: Action,
    private readonly reg: CaveatRegistry,
  ) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(2);
    if (this.ifs === null) w.nil();
    else writeCaveatSet(w, this.ifs);
    w.uint(this.elseAction);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const action = actionOf(a);
    if (action === undefined) return deny(INVALID_ACCESS, this.type, "invalid access for this caveat");
    let applies = false;
    const errs: MacaroonError[] = [];
    for (const c of this.ifs ?? []) {
      const err = c.prohibits(a);
      if (err === undefined || !isResourceUnspecified(err)) {
        applies = true;
        if (err) errs.push(err);
      }
    }
    // Go merges every relevant refusal (merr.Append); keep them all as reasons.
    if (applies)
      return errs.length <= 1
        ? errs[0]
        : new PermissionError(errs.map((e) => e.message).join("; "), {
            reasons: errs,
            caveatType: this.type,
          });
    if (!isSubsetOf(action, this.elseAction)) return actionDenied(this.type, action, this.elseAction);
    return undefined;
  }
  bodyJSON(): unknown {
    return {
      ifs: this.ifs === null ? null : caveatSetToJSON(this.ifs, this.reg),
      else: actionToString(this.elseAction),
    };
  }
  /** Go's JSON of the inner set follows Go's own naming rules (see caveatSetToGoJSON). */
  bodyGoJSON(reg: CaveatRegistry): unknown {
    return {
      ifs: this.ifs === null ? null : caveatSetGoValue(this.ifs, reg),
      else: actionToString(this.elseAction),
    };
  }
}

/** Make an IfPresent whose JSON names inner caveats with `reg` (e.g. flyRegistry). */
export function makeIfPresent(ifs: Caveat[] | null, elseAction: Action, reg: CaveatRegistry): IfPresent {
  return new IfPresent(ifs, elseAction, reg);
}

/** Type 15: the request must come from this machine (Go `flyio.FromMachine`). */
export class FromMachine implements Caveat {
  readonly type = CavFromMachineSource;
  constructor(readonly id: string) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(1).str(this.id);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const f = flyio(a, this.type);
    if (!(f instanceof FlyioAccess)) return f;
    if (f.f.sourceMachine === undefined)
      return deny(INVALID_ACCESS, this.type, "invalid access: missing source machine");
    if (f.f.sourceMachine !== this.id) return deny("unauthorized", this.type, "unauthorized source machine");
    return undefined;
  }
  bodyJSON(): unknown {
    return { id: this.id };
  }
}

/** Type 30: some role the access needs must be within the mask (Go `flyio.AllowedRoles`). */
export class AllowedRoles implements Caveat {
  readonly type: bigint = CavAllowedRoles;
  constructor(readonly mask: number) {}
  encodeBody(w: MsgpackWriter): void {
    w.uint(this.mask);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const f = flyio(a, this.type);
    if (!(f instanceof FlyioAccess)) return f;
    const role = f.permittedRole();
    if ((role & this.mask) >>> 0 !== role >>> 0)
      return deny(UNAUTHORIZED_FOR_ROLE, this.type, "unauthorized for role: role not allowed by token");
    return undefined;
  }
  bodyJSON(): unknown {
    return this.mask;
  }
}

/** Type 22: the token may only do what an org member may do (Go `flyio.IsMember`). */
export class IsMember extends AllowedRoles {
  override readonly type: bigint = CavIsMember;
  constructor() {
    super(RoleMember);
  }
  override encodeBody(w: MsgpackWriter): void {
    w.array(0);
  }
  override bodyJSON(): unknown {
    return {};
  }
}

/** Type 26: the access's action must be within this one (Go `resset.Action`). */
export class ActionCaveat implements Caveat {
  readonly type = CavAction;
  constructor(readonly action: Action) {}
  encodeBody(w: MsgpackWriter): void {
    w.uint(this.action);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const action = actionOf(a);
    if (action === undefined) return deny(INVALID_ACCESS, this.type, "invalid access for this caveat");
    if (!isSubsetOf(action, this.action)) return actionDenied(this.type, action, this.action);
    return undefined;
  }
  bodyJSON(): unknown {
    return actionToString(this.action);
  }
}

export interface Command {
  /** null is Go's nil slice (msgpack nil, JSON null); it matches like an empty prefix. */
  args: readonly string[] | null;
  exact: boolean;
}

/** Type 27: commands allowed on a machine: exact argv, or argv prefix (Go `flyio.Commands`). */
export class Commands implements Caveat {
  readonly type = CavCommands;
  constructor(readonly commands: readonly Command[]) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(this.commands.length);
    for (const c of this.commands) {
      w.array(2);
      if (c.args === null) w.nil();
      else {
        w.array(c.args.length);
        for (const s of c.args) w.str(s);
      }
      w.bool(c.exact);
    }
  }
  prohibits(a: Access): MacaroonError | undefined {
    const f = flyio(a, this.type);
    if (!(f instanceof FlyioAccess)) return f;
    const argv = f.f.command;
    if (argv === undefined) return deny(RESOURCE_UNSPECIFIED, this.type, "resource unspecified: command");
    for (const c of this.commands) {
      const args = c.args ?? [];
      if (c.exact ? args.length !== argv.length : argv.length < args.length) continue;
      if (args.every((s, i) => argv[i] === s)) return undefined;
    }
    return deny(UNAUTHORIZED_FOR_RESOURCE, this.type, "unauthorized for command");
  }
  bodyJSON(): unknown {
    return this.commands.map((c) => (c.exact ? { args: c.args, exact: true } : { args: c.args }));
  }
}

/** Type 31: the request's Fly-Src must match every non-empty field (Go `flyio.FlySrc`). */
export class FlySrc implements Caveat {
  readonly type = CavFlySrc;
  constructor(
    readonly organization: string,
    readonly app: string,
    readonly instance: string,
  ) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(3).str(this.organization).str(this.app).str(this.instance);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const f = flyio(a, this.type);
    if (!(f instanceof FlyioAccess)) return f;
    const pairs: [string, string | undefined][] = [
      [this.organization, f.f.sourceOrganization],
      [this.app, f.f.sourceApp],
      [this.instance, f.f.sourceInstance],
    ];
    for (const [want, got] of pairs)
      if (want !== "" && want !== got) return deny("unauthorized", this.type, "unauthorized Fly-Src");
    return undefined;
  }
  bodyJSON(): unknown {
    return { organization: this.organization, app: this.app, instance: this.instance };
  }
}

export const flyioCodecs = [
  defineCodec(
    CavOrganization,
    "Organization",
    (r) => {
      expectArray(r, 2, "Organization");
      return new Organization(r.uint(), actionUint(r));
    },
    (b) => {
      const o = jsonObject(b, "Organization");
      return new Organization(u64JSON(o.id, "Organization.id"), parseAction(o.mask, "Organization.mask"));
    },
    { aliases: ["DeprecatedOrganization"] },
  ),
  Volumes.codec,
  { ...Apps.codec, aliases: ["DeprecatedApps"] },
  FeatureSet.codec,
  defineCodec(
    CavMutations,
    "Mutations",
    (r) => {
      expectArray(r, 1, "Mutations");
      return new Mutations(strList(r));
    },
    (b) => new Mutations(strListJSON(jsonObject(b, "Mutations").mutations, "Mutations.mutations")),
  ),
  Machines.codec,
  structUintCodec(CavIsUser, "IsUser", "uint64", (v) => new IsUser(v)),
  defineCodec(
    CavIfPresent,
    "IfPresent",
    (r, reg) => {
      expectArray(r, 2, "IfPresent");
      let ifs: Caveat[] | null = null;
      if (r.isNil()) r.nil();
      else ifs = decodeCaveatSet(r, reg);
      return new IfPresent(ifs, actionUint(r), reg);
    },
    (b, reg) => {
      const o = jsonObject(b, "IfPresent");
      const ifs = o.ifs === null || o.ifs === undefined ? null : caveatSetFromJSON(o.ifs, reg);
      return new IfPresent(ifs, parseAction(o.else, "IfPresent.else"), reg);
    },
  ),
  MachineFeatureSet.codec,
  defineCodec(
    CavFromMachineSource,
    "FromMachineSource",
    (r) => {
      expectArray(r, 1, "FromMachineSource");
      return new FromMachine(r.str());
    },
    (b) => new FromMachine(jsonString(jsonObject(b, "FromMachineSource").id, "FromMachineSource.id")),
  ),
  Clusters.codec,
  defineCodec(
    CavIsMember,
    "IsMember",
    (r) => {
      expectArray(r, 0, "IsMember");
      return new IsMember();
    },
    (b) => {
      jsonObject(b, "IsMember");
      return new IsMember();
    },
    { aliases: ["NoAdminFeatures"] },
  ),
  defineCodec(
    CavAction,
    "Action",
    (r) => new ActionCaveat(actionUint(r)),
    (b) => new ActionCaveat(parseAction(b, "Action")),
  ),
  defineCodec(
    CavCommands,
    "Commands",
    (r) => {
      const n = r.array();
      const cmds: Command[] = [];
      for (let i = 0; i < n; i++) {
        expectArray(r, 2, "Command");
        cmds.push({ args: strList(r), exact: r.bool() });
      }
      return new Commands(cmds);
    },
    (b) => {
      if (!Array.isArray(b)) throw new CaveatError("bad_caveat_json", "Commands: expected an array");
      return new Commands(
        b.map((c, i) => {
          const o = jsonObject(c, `Commands[${i}]`);
          if (o.exact !== undefined && typeof o.exact !== "boolean")
            throw new CaveatError("bad_caveat_json", `Commands[${i}].exact: expected a boolean`);
          return { args: strListJSON(o.args, `Commands[${i}].args`), exact: o.exact === true };
        }),
      );
    },
  ),
  AppFeatureSet.codec,
  StorageObjects.codec,
  defineCodec(
    CavAllowedRoles,
    "AllowedRoles",
    (r) => {
      const v = r.uint();
      if (v > 0xffffffffn) throw new CaveatError("bad_caveat", "AllowedRoles out of range");
      return new AllowedRoles(Number(v));
    },
    (b) => new AllowedRoles(Number(jsonInteger(b, "AllowedRoles", 0n, 0xffffffffn))),
  ),
  defineCodec(
    CavFlySrc,
    "FlySrc",
    (r) => {
      expectArray(r, 3, "FlySrc");
      return new FlySrc(r.str(), r.str(), r.str());
    },
    (b) => {
      const o = jsonObject(b, "FlySrc");
      const s = (k: string) => (o[k] === undefined ? "" : jsonString(o[k], `FlySrc.${k}`));
      return new FlySrc(s("organization"), s("app"), s("instance"));
    },
  ),
];
