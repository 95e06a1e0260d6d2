import { type Caveat, PermissionError, ValidityWindow, validateCaveats } from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import {
  ActionAll,
  ActionCaveat,
  ActionRead,
  ActionWrite,
  Apps,
  Commands,
  ConfineOrganization,
  DischargeRequest,
  FeatureSet,
  FlyioAccess,
  FlySrc,
  FromMachine,
  flyRegistry,
  IsMember,
  isResourceUnspecified,
  MaxValidity,
  Mutations,
  makeIfPresent,
  Organization,
  PetsemAccess,
  parseAction,
  RESOURCE_UNSPECIFIED,
  ResourceSet,
  SecretOps,
  SecretScope,
  StorageObjects,
  UNAUTHORIZED_FOR_ACTION,
  UNAUTHORIZED_FOR_RESOURCE,
  WRITER_OPS,
} from "../src/index.js";

const access = (f: Partial<ConstructorParameters<typeof FlyioAccess>[0]>) =>
  new FlyioAccess({ action: ActionRead, orgId: 1n, ...f });

describe("resset.ResourceSet (ported from Go resset/resource_set_test.go)", () => {
  const rs = ResourceSet.of("uint", { "123": ActionRead | ActionWrite, "234": ActionAll });
  it("allows a listed ID within its action", () => {
    expect(rs.prohibits(123n, ActionRead, 3n)).toBeUndefined();
    expect(rs.prohibits(234n, ActionAll, 3n)).toBeUndefined();
  });
  it("refuses an action outside the entry", () => {
    expect(rs.prohibits(123n, ActionAll, 3n)?.code).toBe(UNAUTHORIZED_FOR_ACTION);
  });
  it("refuses an unlisted ID", () => {
    expect(rs.prohibits(999n, ActionRead, 3n)?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
  });
  it("says unspecified when the access names no ID", () => {
    expect(rs.prohibits(undefined, ActionRead, 3n)?.code).toBe(RESOURCE_UNSPECIFIED);
  });
  it("the zero ID applies to every ID, and must stand alone", () => {
    const zero = ResourceSet.of("uint", { "0": ActionRead });
    expect(zero.prohibits(55n, ActionRead, 3n)).toBeUndefined();
    expect(zero.prohibits(55n, ActionWrite, 3n)?.code).toBe(UNAUTHORIZED_FOR_ACTION);
    const mixed = ResourceSet.of("uint", { "0": ActionRead, "5": ActionRead });
    expect(mixed.prohibits(5n, ActionRead, 3n)?.code).toBe("bad_caveat");
  });
  it("prefix sets match by prefix and AND every matching entry", () => {
    const p = ResourceSet.of("prefix", { "https://b/": ActionAll, "https://b/x/": ActionRead });
    expect(p.prohibits("https://b/y", ActionWrite, 29n)).toBeUndefined();
    expect(p.prohibits("https://b/x/1", ActionWrite, 29n)?.code).toBe(UNAUTHORIZED_FOR_ACTION);
    expect(p.prohibits("https://c/", ActionRead, 29n)?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
  });
  it("encodes keys sorted by UTF-8 bytes, whatever the insertion order", () => {
    const a = ResourceSet.of("string", { b: 1, a: 1, é: 1, Z: 1 });
    expect(a.entries.map(([k]) => k)).toEqual(["Z", "a", "b", "é"]);
  });
  it("action strings: rwcdC letters, '*' is every bit, other letters refused", () => {
    expect(parseAction("rwcdC")).toBe(ActionAll);
    expect(parseAction("*")).toBe(0xffff);
    expect(() => parseAction("rx")).toThrow();
  });
});

describe("flyio caveats against a FlyioAccess", () => {
  it("Organization: other org refused, action beyond mask refused, non-Fly access fails closed", () => {
    const c = new Organization(1n, ActionRead);
    expect(c.prohibits(access({}))).toBeUndefined();
    expect(c.prohibits(access({ orgId: 2n }))?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
    expect(c.prohibits(access({ action: ActionWrite }))?.code).toBe(UNAUTHORIZED_FOR_ACTION);
    expect(c.prohibits(new PetsemAccess("list", 1n, 1n))?.code).toBe("invalid_access");
  });
  it("Apps limits the app; an access with no app is unspecified", () => {
    const c = new Apps.Class(ResourceSet.of("uint", { "10": ActionRead }));
    expect(c.prohibits(access({ appId: 10n }))).toBeUndefined();
    expect(c.prohibits(access({ appId: 11n }))?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
    expect(isResourceUnspecified(c.prohibits(access({})))).toBe(true);
  });
  it("IfPresent: inner caveats decide when relevant, else the Else action", () => {
    const c = makeIfPresent(
      [new FeatureSet.Class(ResourceSet.of("string", { wg: ActionAll }))],
      ActionRead,
      flyRegistry,
    );
    expect(c.prohibits(access({ feature: "wg", action: ActionAll }))).toBeUndefined();
    expect(c.prohibits(access({ feature: "builder" }))?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
    expect(c.prohibits(access({ appId: 5n, action: ActionRead }))).toBeUndefined();
    expect(c.prohibits(access({ appId: 5n, action: ActionWrite }))?.code).toBe(UNAUTHORIZED_FOR_ACTION);
  });
  it("Mutations: listed mutation only; none given is resource-unspecified (Go flyio/caveats.go Mutations.Prohibits)", () => {
    const c = new Mutations(["deleteApp"]);
    expect(c.prohibits(access({ mutation: "deleteApp" }))).toBeUndefined();
    expect(c.prohibits(access({ mutation: "addCertificate" }))?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
    expect(isResourceUnspecified(c.prohibits(access({})))).toBe(true);
  });
  it("Commands: exact commands match exactly, others by argv prefix", () => {
    const c = new Commands([
      { args: ["ls"], exact: false },
      { args: ["uptime"], exact: true },
    ]);
    const m = { appId: 1n, machine: "m1" };
    expect(c.prohibits(access({ ...m, command: ["ls", "-l"] }))).toBeUndefined();
    expect(c.prohibits(access({ ...m, command: ["uptime"] }))).toBeUndefined();
    expect(c.prohibits(access({ ...m, command: ["uptime", "-p"] }))?.code).toBe(UNAUTHORIZED_FOR_RESOURCE);
  });
  it("FromMachine and FlySrc compare the request's source", () => {
    expect(new FromMachine("m1").prohibits(access({ sourceMachine: "m1" }))).toBeUndefined();
    expect(new FromMachine("m1").prohibits(access({ sourceMachine: "m2" }))).toBeInstanceOf(PermissionError);
    const src = new FlySrc("o", "", "");
    expect(src.prohibits(access({ sourceOrganization: "o", sourceApp: "any" }))).toBeUndefined();
    expect(src.prohibits(access({ sourceOrganization: "p" }))).toBeInstanceOf(PermissionError);
  });
  it("IsMember refuses admin-only feature use", () => {
    expect(new IsMember().prohibits(access({ feature: "wg", action: ActionAll }))).toBeUndefined();
    expect(new IsMember().prohibits(access({ feature: "deletion", action: ActionRead }))).toBeInstanceOf(
      PermissionError,
    );
  });
  it("StorageObjects match by prefix", () => {
    const c = new StorageObjects.Class(ResourceSet.of("prefix", { "https://s/b/": ActionRead }));
    expect(c.prohibits(access({ storageObject: "https://s/b/k" }))).toBeUndefined();
  });
  it("Action limits what the access does", () => {
    expect(new ActionCaveat(ActionRead).prohibits(access({ action: ActionWrite }))?.code).toBe(
      UNAUTHORIZED_FOR_ACTION,
    );
  });
});

describe("FlyioAccess.validate (Go flyio.Access.Validate)", () => {
  const bad: [string, ConstructorParameters<typeof FlyioAccess>[0]][] = [
    ["no org", { action: ActionRead }],
    ["app and org feature", { action: 1, orgId: 1n, appId: 1n, feature: "wg" }],
    ["machine without app", { action: 1, orgId: 1n, machine: "m" }],
    ["machine and volume", { action: 1, orgId: 1n, appId: 1n, machine: "m", volume: "v" }],
    ["cluster without litefs-cloud", { action: 1, orgId: 1n, cluster: "c" }],
    ["command without machine", { action: 1, orgId: 1n, appId: 1n, command: ["ls"] }],
  ];
  for (const [why, f] of bad) {
    it(`refuses an access with ${why}, whatever the caveats`, () => {
      expect(() => validateCaveats([], new FlyioAccess(f))).toThrow(PermissionError);
    });
  }
  it("accepts a well-formed access", () => {
    expect(() => validateCaveats([], access({ appId: 1n, machine: "m" }))).not.toThrow();
  });
});

describe("auth caveats against a DischargeRequest", () => {
  it("ConfineOrganization needs a Fly login in that org", () => {
    const c = new ConfineOrganization(7n);
    const ok = new DischargeRequest({ flyio: [{ userId: 1n, organizationIds: [7n] }] });
    const no = new DischargeRequest({ flyio: [{ userId: 1n, organizationIds: [8n] }] });
    expect(c.prohibits(ok)).toBeUndefined();
    expect(c.prohibits(no)?.message).toContain("organization 7");
  });
  it("MaxValidity bounds the discharge lifetime", () => {
    const now = new Date(1_000_000);
    const c = new MaxValidity(60n);
    expect(
      c.prohibits(new DischargeRequest({ now, expiry: new Date(now.getTime() + 60_000) })),
    ).toBeUndefined();
    expect(
      c.prohibits(new DischargeRequest({ now, expiry: new Date(now.getTime() + 61_000) })),
    ).toBeDefined();
  });
});

describe("petsem caveats", () => {
  const writer: Caveat[] = [new SecretOps(WRITER_OPS), new SecretScope(5n, 0n)];
  it("a writer token can never pass resolve, for any org or app", () => {
    for (const [o, a] of [
      [5n, 1n],
      [5n, 2n],
      [6n, 1n],
    ] as const)
      expect(() => validateCaveats(writer, new PetsemAccess("resolve", o, a))).toThrow(PermissionError);
    expect(() => validateCaveats(writer, new PetsemAccess("set", 5n, 9n))).not.toThrow();
  });
  it("SecretScope confines org and app; stacked scopes intersect", () => {
    const reader: Caveat[] = [new SecretOps(["resolve"]), new SecretScope(5n, 0n), new SecretScope(5n, 9n)];
    expect(() => validateCaveats(reader, new PetsemAccess("resolve", 5n, 9n))).not.toThrow();
    expect(() => validateCaveats(reader, new PetsemAccess("resolve", 5n, 8n))).toThrow(PermissionError);
    expect(() => validateCaveats(reader, new PetsemAccess("resolve", 6n, 9n))).toThrow(PermissionError);
  });
  it("Fly API caveats fail closed on a petsem access, and petsem caveats on a Fly access", () => {
    expect(() =>
      validateCaveats([new Organization(5n, ActionAll)], new PetsemAccess("list", 5n, 1n)),
    ).toThrow(PermissionError);
    expect(() => validateCaveats([new SecretScope(1n, 0n)], access({}))).toThrow(PermissionError);
  });
  it("validity windows still apply to petsem accesses", () => {
    const now = new Date(10_000_000);
    const expired = [new SecretOps(["list"]), new ValidityWindow(0n, 5n)];
    expect(() => validateCaveats(expired, new PetsemAccess("list", 1n, 1n, now))).toThrow(PermissionError);
  });
  it("PetsemAccess.validate requires a known op and positive org and app IDs, whatever the caveats", () => {
    for (const a of [
      new PetsemAccess("read" as never, 1n, 1n),
      new PetsemAccess("list", 0n, 1n),
      new PetsemAccess("list", 1n, 0n),
    ])
      expect(() => validateCaveats([], a)).toThrow(PermissionError);
    expect(() => validateCaveats([], new PetsemAccess("list", 1n, 1n))).not.toThrow();
  });
  it("a reader cannot be attenuated into a writer, nor a writer into a reader", () => {
    const reader: Caveat[] = [new SecretOps(["resolve"]), new SecretOps(WRITER_OPS)];
    for (const op of ["set", "unset", "list", "rollback", "resolve"] as const)
      expect(() => validateCaveats(reader, new PetsemAccess(op, 1n, 1n))).toThrow(PermissionError);
  });
});
