/**
 * Cases ported from superfly/macaroon's own Go tests; each `describe` names the Go test it ports.
 * `hasCode` stands in for Go's `errors.Is`: the error or one of its merged reasons has the code.
 */
import {
  type Access,
  type Caveat,
  caveatSetFromJSON,
  caveatSetToJSON,
  decodeCaveatSet,
  encodeCaveatSet,
  type MacaroonError,
  MsgpackReader,
  MsgpackWriter,
  PermissionError,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import {
  type Action,
  type ActionAccess,
  ActionAll,
  ActionCaveat,
  ActionControl,
  ActionCreate,
  ActionDelete,
  ActionNone,
  ActionRead,
  ActionWrite,
  AllowedRoles,
  BAD_CAVEAT,
  Commands,
  FeatureLFSC,
  FlyioAccess,
  type FlyioAccessFields,
  flyRegistry,
  INVALID_ACCESS,
  IsMember,
  makeIfPresent,
  RESOURCE_UNSPECIFIED,
  ResourceSet,
  RoleAdmin,
  UNAUTHORIZED_FOR_ACTION,
  UNAUTHORIZED_FOR_RESOURCE,
  UNAUTHORIZED_FOR_ROLE,
} from "../src/index.js";
import { toHex } from "./vectors.js";

function hasCode(err: unknown, code: string): boolean {
  if (!(err instanceof PermissionError) && !(err instanceof Error)) return false;
  const e = err as MacaroonError & { reasons?: readonly MacaroonError[] };
  return e.code === code || (e.reasons ?? []).some((r) => hasCode(r, code));
}
function refusal(cavs: readonly Caveat[], a: Access): unknown {
  try {
    validateCaveats(cavs, a);
    return undefined;
  } catch (e) {
    return e;
  }
}

describe("resset TestResourceSet", () => {
  const rs = ResourceSet.of("string", { foo: ActionRead | ActionWrite, bar: ActionWrite });
  it("allows listed IDs within their actions and refuses the rest with Go's sentinels", () => {
    expect(rs.prohibits("foo", ActionRead | ActionWrite, 5n)).toBeUndefined();
    expect(rs.prohibits("bar", ActionWrite, 5n)).toBeUndefined();
    expect(rs.prohibits(undefined, ActionWrite, 5n)?.code).toBe(RESOURCE_UNSPECIFIED);
    expect(rs.prohibits("baz", ActionWrite, 5n)?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
    // The zero ID in the access is just another ID when the set does not list it.
    expect(rs.prohibits("", ActionWrite, 5n)?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
    expect(rs.prohibits("foo", ActionAll, 5n)?.code).toBe(UNAUTHORIZED_FOR_ACTION);
  });
});

describe("resset TestZeroID", () => {
  it("a lone zero ID covers every ID (the zero ID included) but only for its action", () => {
    const rs = ResourceSet.of("string", { "": ActionRead });
    expect(rs.prohibits("foo", ActionRead, 5n)).toBeUndefined();
    expect(rs.prohibits("", ActionRead, 5n)).toBeUndefined();
    expect(rs.prohibits(undefined, ActionRead, 5n)?.code).toBe(RESOURCE_UNSPECIFIED);
    expect(rs.prohibits("foo", ActionWrite, 5n)?.code).toBe(UNAUTHORIZED_FOR_ACTION);
    expect(rs.prohibits("", ActionWrite, 5n)?.code).toBe(UNAUTHORIZED_FOR_ACTION);
  });
  it("a zero ID beside other IDs makes the caveat bad for every access", () => {
    const rs = ResourceSet.of("string", { "": ActionRead | ActionWrite, bar: ActionWrite });
    expect(rs.prohibits("bar", ActionWrite, 5n)?.code).toBe(BAD_CAVEAT);
    expect(rs.prohibits(undefined, ActionWrite, 5n)?.code).toBe(BAD_CAVEAT);
  });
});

describe("resset TestResourceSetJSON", () => {
  it("marshals uint IDs as sorted string keys with action strings, and back", () => {
    const rs = ResourceSet.of(
      "uint",
      new Map([[3n, ActionRead] as const, [1n, ActionRead], [2n, ActionRead]]),
    );
    expect(JSON.stringify(rs.toJSON())).toBe('{"1":"r","2":"r","3":"r"}');
    expect(ResourceSet.fromJSON(rs.toJSON(), "uint", "rs").entries).toEqual(rs.entries);
  });
});

describe("resset TestResourceSetMessagePack", () => {
  it("writes the map with keys in numeric order whatever the insertion order, and reads it back", () => {
    const rs = ResourceSet.of(
      "uint",
      new Map([[3n, ActionRead] as const, [1n, ActionRead], [2n, ActionRead]]),
    );
    const w = new MsgpackWriter();
    rs.encode(w);
    const bytes = w.finish();
    // Go's compact-int encoding of map{1: r, 2: r, 3: r}.
    expect(toHex(bytes)).toBe("83010102010301");
    expect(ResourceSet.decode(new MsgpackReader(bytes), "uint").entries).toEqual(rs.entries);
  });
  it("numeric order is not string order: 9 sorts before 10 inside an Apps caveat", () => {
    const cav = caveatSetFromJSON([{ type: "Apps", body: { apps: { "10": "r", "9": "r" } } }], flyRegistry);
    expect(toHex(encodeCaveatSet(cav))).toBe("9203918209010a01");
  });
});

// resset/if_present_test.go: user-defined parent and child caveats and their access.
const CavTestParent = (1n << 48n) + 10n;
const CavTestChild = CavTestParent + 1n;

class TestAccess implements ActionAccess {
  constructor(
    readonly action: Action,
    readonly parent?: bigint,
    readonly child?: bigint,
  ) {}
  now(): Date {
    return new Date();
  }
  validate(): void {
    if (this.child !== undefined && this.parent === undefined)
      throw new PermissionError("resource unspecified: parent", { code: RESOURCE_UNSPECIFIED });
  }
}

class TestResource implements Caveat {
  constructor(
    readonly type: bigint,
    readonly id: bigint,
    readonly permission: Action,
  ) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(2).uint(this.id).uint(this.permission);
  }
  prohibits(a: Access): MacaroonError | undefined {
    if (!(a instanceof TestAccess)) return new PermissionError("invalid access", { code: INVALID_ACCESS });
    const id = this.type === CavTestParent ? a.parent : a.child;
    if (id === undefined) return new PermissionError("unspecified", { code: RESOURCE_UNSPECIFIED });
    if (id !== this.id) return new PermissionError("resource", { code: UNAUTHORIZED_FOR_RESOURCE });
    if ((a.action & this.permission) !== a.action)
      return new PermissionError("action", { code: UNAUTHORIZED_FOR_ACTION });
    return undefined;
  }
  bodyJSON(): unknown {
    return { ID: this.id, Permission: this.permission };
  }
}

describe("resset TestIfPresent", () => {
  const cavs: Caveat[] = [
    new TestResource(CavTestParent, 123n, ActionRead | ActionWrite | ActionCreate | ActionDelete),
    makeIfPresent(
      [new TestResource(CavTestChild, 234n, ActionRead | ActionDelete | ActionControl)],
      ActionRead | ActionCreate,
      flyRegistry,
    ),
  ];
  const no = (code: string, a: TestAccess) => expect(hasCode(refusal(cavs, a), code)).toBe(true);
  const yes = (a: TestAccess) => expect(refusal(cavs, a)).toBeUndefined();

  it("fails before IfPresent: no parent, or the wrong parent", () => {
    no(RESOURCE_UNSPECIFIED, new TestAccess(ActionRead, undefined, 234n));
    no(UNAUTHORIZED_FOR_RESOURCE, new TestAccess(ActionRead, 987n, 234n));
  });
  it("the if branch decides when the child is named", () => {
    yes(new TestAccess(ActionRead | ActionDelete, 123n, 234n));
    no(UNAUTHORIZED_FOR_RESOURCE, new TestAccess(ActionRead, 123n, 876n));
    no(UNAUTHORIZED_FOR_ACTION, new TestAccess(ActionWrite, 123n, 234n));
    no(UNAUTHORIZED_FOR_ACTION, new TestAccess(ActionControl, 123n, 234n));
  });
  it("the else action decides when the child is not named", () => {
    yes(new TestAccess(ActionRead | ActionCreate, 123n));
    no(UNAUTHORIZED_FOR_ACTION, new TestAccess(ActionWrite, 123n));
    no(UNAUTHORIZED_FOR_ACTION, new TestAccess(ActionControl, 123n));
  });
  it("IfPresent fails closed on an access that states no action", () => {
    const plain: Access = { now: () => new Date(), validate: () => {} };
    expect(cavs[1]?.prohibits(plain)?.code).toBe(INVALID_ACCESS);
  });
});

describe("resset TestActionCaveat", () => {
  it("Action (26) limits any resset access, not only Fly's", () => {
    const cavs: Caveat[] = [new TestResource(CavTestParent, 123n, ActionAll), new ActionCaveat(ActionRead)];
    expect(refusal(cavs, new TestAccess(ActionRead, 123n))).toBeUndefined();
    expect(hasCode(refusal(cavs, new TestAccess(ActionWrite, 123n)), UNAUTHORIZED_FOR_ACTION)).toBe(true);
  });
});

describe("resset TestCaveatSerialization", () => {
  it("an IfPresent wrapping a ValidityWindow survives JSON and msgpack", () => {
    const cs = [makeIfPresent([new ValidityWindow(123n, 234n)], ActionDelete, flyRegistry)];
    const json = caveatSetToJSON(cs, flyRegistry);
    expect(JSON.parse(JSON.stringify(json))).toEqual([
      {
        type: "IfPresent",
        body: { ifs: [{ type: "ValidityWindow", body: { not_before: 123, not_after: 234 } }], else: "d" },
      },
    ]);
    const bytes = encodeCaveatSet(cs);
    expect(encodeCaveatSet(caveatSetFromJSON(json, flyRegistry))).toEqual(bytes);
    expect(encodeCaveatSet(decodeCaveatSet(bytes, flyRegistry))).toEqual(bytes);
  });
});

describe("flyio TestAccess (Access.Validate)", () => {
  const check = (f: FlyioAccessFields) => {
    try {
      new FlyioAccess(f).validate();
      return undefined;
    } catch (e) {
      return (e as MacaroonError).code;
    }
  };
  const r = ActionRead;
  it("requires the org", () => {
    expect(check({ action: r })).toBe(RESOURCE_UNSPECIFIED);
    expect(check({ action: r, orgId: 1n })).toBeUndefined();
  });
  it("org-level resources are mutually exclusive", () => {
    expect(check({ action: r, orgId: 1n, appId: 1n, feature: "x" })).toBe("resources_mutually_exclusive");
    expect(check({ action: r, orgId: 1n, appId: 1n })).toBeUndefined();
    expect(check({ action: r, orgId: 1n, feature: "x" })).toBeUndefined();
  });
  it("clusters need the litefs-cloud feature: missing is unspecified, another is invalid", () => {
    expect(check({ action: r, orgId: 1n, cluster: "foo" })).toBe(RESOURCE_UNSPECIFIED);
    expect(check({ action: r, orgId: 1n, feature: "x", cluster: "foo" })).toBe(INVALID_ACCESS);
    expect(check({ action: r, orgId: 1n, feature: FeatureLFSC, cluster: "foo" })).toBeUndefined();
  });
  it("machine-level resources need a machine and exclude each other", () => {
    expect(check({ action: r, orgId: 1n, appId: 1n, machineFeature: "exec" })).toBe(RESOURCE_UNSPECIFIED);
    expect(
      check({ action: r, orgId: 1n, appId: 1n, machine: "m", command: ["ls"], machineFeature: "x" }),
    ).toBe("resources_mutually_exclusive");
    expect(check({ action: r, orgId: 1n, appId: 1n, machine: "m", command: ["ls"] })).toBeUndefined();
  });
});

describe("flyio TestNoAdminFeatures (IsMember, the role-based successor of NoAdminFeatures)", () => {
  const cs: Caveat[] = [new IsMember()];
  const acc = (action: Action, feature?: string) =>
    new FlyioAccess({ action, orgId: 1n, ...(feature === undefined ? {} : { feature }) });
  it("members may use member features and non-feature resources", () => {
    expect(refusal(cs, acc(ActionAll, "wg"))).toBeUndefined();
    expect(refusal(cs, acc(ActionRead, "membership"))).toBeUndefined();
    expect(refusal(cs, acc(ActionAll))).toBeUndefined();
  });
  it("admin-only uses (more than members may, unknown or empty features) need the admin role", () => {
    for (const a of [acc(ActionWrite, "membership"), acc(ActionRead, "unknown"), acc(ActionNone, "")])
      expect(hasCode(refusal(cs, a), UNAUTHORIZED_FOR_ROLE)).toBe(true);
  });
  it("AllowedRoles(admin) allows what IsMember refuses", () => {
    expect(refusal([new AllowedRoles(RoleAdmin)], acc(ActionWrite, "membership"))).toBeUndefined();
  });
});

describe("flyio TestCommands (Commands of {args, exact})", () => {
  const cs: Caveat[] = [
    new Commands([
      { args: ["uptime"], exact: false },
      { args: ["uname"], exact: false },
    ]),
  ];
  const acc = (action: Action, command?: string[]) =>
    new FlyioAccess({ action, orgId: 1n, appId: 1n, machine: "m", ...(command ? { command } : {}) });
  it("allows commands whose argv starts with an allowed prefix", () => {
    expect(refusal(cs, acc(ActionAll, ["uptime"]))).toBeUndefined();
    expect(refusal(cs, acc(ActionAll, ["uptime", "arg"]))).toBeUndefined();
    expect(refusal(cs, acc(ActionNone, ["uname", "arg"]))).toBeUndefined();
  });
  it("refuses other commands, and says unspecified when no command is run", () => {
    expect(hasCode(refusal(cs, acc(ActionAll, ["ls"])), UNAUTHORIZED_FOR_RESOURCE)).toBe(true);
    expect(hasCode(refusal(cs, acc(ActionAll, ["ls", "arg"])), UNAUTHORIZED_FOR_RESOURCE)).toBe(true);
    expect(hasCode(refusal(cs, acc(ActionAll)), RESOURCE_UNSPECIFIED)).toBe(true);
  });
  it("inside IfPresent, a non-command access falls to the else action", () => {
    const csIf = [makeIfPresent(cs, ActionDelete, flyRegistry)];
    expect(refusal(csIf, acc(ActionNone, ["uname", "arg"]))).toBeUndefined();
    expect(refusal(csIf, acc(ActionDelete))).toBeUndefined();
    expect(hasCode(refusal(csIf, acc(ActionWrite)), UNAUTHORIZED_FOR_ACTION)).toBe(true);
  });
  it("exact commands match the whole argv only (TestCommandsArgs)", () => {
    const exact: Caveat[] = [new Commands([{ args: ["uptime", "arg"], exact: true }])];
    expect(refusal(exact, acc(ActionAll, ["uptime", "arg"]))).toBeUndefined();
    expect(hasCode(refusal(exact, acc(ActionAll, ["uptime"])), UNAUTHORIZED_FOR_RESOURCE)).toBe(true);
    expect(
      hasCode(refusal(exact, acc(ActionAll, ["uptime", "arg", "arg2"])), UNAUTHORIZED_FOR_RESOURCE),
    ).toBe(true);
  });
});

describe("Go nil slices keep their bytes", () => {
  it("a Command with nil args (msgpack nil, JSON null) re-encodes byte-identically and matches any argv", () => {
    const bytes = new Uint8Array([0x92, 0x1b, 0x91, 0x92, 0xc0, 0xc2]);
    const cavs = decodeCaveatSet(bytes, flyRegistry);
    expect(encodeCaveatSet(cavs)).toEqual(bytes);
    const json = caveatSetToJSON(cavs, flyRegistry);
    expect(JSON.parse(JSON.stringify(json))).toEqual([{ type: "Commands", body: [{ args: null }] }]);
    expect(encodeCaveatSet(caveatSetFromJSON(json, flyRegistry))).toEqual(bytes);
    const a = new FlyioAccess({ action: ActionRead, orgId: 1n, appId: 1n, machine: "m", command: ["ls"] });
    expect(refusal(cavs, a)).toBeUndefined();
  });
});
