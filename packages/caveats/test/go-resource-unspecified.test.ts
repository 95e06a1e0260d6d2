/**
 * Parity with superfly/macaroon on one question, for every caveat type: what does `prohibits`
 * answer when the access does not name the resource the caveat limits? Go's answer decides
 * IfPresent: `resset.ErrResourceUnspecified` makes IfPresent skip the inner caveat and apply its
 * `Else` (resset/if_present.go:43, the `!errors.Is(cErr, ErrResourceUnspecified)` test); any other
 * answer, nil included, makes the inner caveat decide.
 *
 * Line numbers point at the superfly/macaroon sources readable through the project's code index
 * (flyio/caveats.go in its getter-interface revision, resset/if_present.go, resset/action.go,
 * auth/caveats.go, caveats.go); the reference (../shared/reference/fly-macaroon-format.md §5, §6)
 * describes the same rules at commit 8578343. Where a line is cited, the quoted statement is the
 * one to look for if lines have shifted.
 */
import {
  type Access,
  BindToParentToken,
  type Caveat,
  Caveat3P,
  type MacaroonError,
  PermissionError,
  UnregisteredCaveat,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import {
  ActionCaveat,
  ActionRead,
  ActionWrite,
  AllowedRoles,
  AppFeatureSet,
  Apps,
  BAD_CAVEAT,
  Clusters,
  Commands,
  ConfineGitHubOrg,
  ConfineGoogleHD,
  ConfineOrganization,
  ConfineUser,
  DischargeRequest,
  FeatureSet,
  FlyioAccess,
  type FlyioAccessFields,
  FlyioUserID,
  FlySrc,
  FromMachine,
  GitHubUserID,
  GoogleUserID,
  INVALID_ACCESS,
  IsMember,
  IsUser,
  ifPresent,
  MachineFeatureSet,
  Machines,
  MaxValidity,
  Mutations,
  Organization,
  PetsemAccess,
  RESOURCE_UNSPECIFIED,
  ResourceSet,
  SecretOps,
  SecretScope,
  StorageObjects,
  UNAUTHORIZED_FOR_ACTION,
  Volumes,
} from "../src/index.js";

/** An access of org 1 that names nothing else unless told. */
const fly = (f: Partial<FlyioAccessFields> = {}) => new FlyioAccess({ action: ActionRead, orgId: 1n, ...f });
const code = (e: MacaroonError | undefined) => e?.code;

/**
 * The IfPresent consequence of an "unspecified" answer: wrapped in IfPresent{else: r}, the caveat
 * is skipped, so a read passes and a write is refused by the Else, whatever the inner caveat says.
 */
function expectIfPresentFallsBackToElse(cav: Caveat, a: (action: number) => Access): void {
  const ip = ifPresent([cav], "r");
  expect(ip.prohibits(a(ActionRead))).toBeUndefined();
  expect(code(ip.prohibits(a(ActionWrite)))).toBe(UNAUTHORIZED_FOR_ACTION);
}

describe("the issue's case: Organization + IfPresent{Mutations} against an access with no mutation", () => {
  const cavs = [organizationRwcdC(), ifPresent([new Mutations(["createApp"])], "r")];
  it("allows {org 1234, app 20, action r}, as Go does (Mutations is unspecified, so Else r applies)", () => {
    expect(() =>
      validateCaveats(cavs, new FlyioAccess({ orgId: 1234n, appId: 20n, action: ActionRead })),
    ).not.toThrow();
  });
  it("still refuses a write without a mutation (the Else), and an unlisted mutation (the inner caveat)", () => {
    expect(() =>
      validateCaveats(cavs, new FlyioAccess({ orgId: 1234n, appId: 20n, action: ActionWrite })),
    ).toThrow(PermissionError);
    expect(() =>
      validateCaveats(cavs, new FlyioAccess({ orgId: 1234n, action: ActionWrite, mutation: "deleteApp" })),
    ).toThrow(PermissionError);
    expect(() =>
      validateCaveats(cavs, new FlyioAccess({ orgId: 1234n, action: ActionWrite, mutation: "createApp" })),
    ).not.toThrow();
  });
});

function organizationRwcdC(): Organization {
  return new Organization(1234n, 0x1f);
}

describe("every caveat type: the answer when the access does not name its resource (Go source cited)", () => {
  it("Organization (0): no org is resource_unspecified — flyio/caveats.go:74 `case f.GetOrgID() == nil`", () => {
    const c = new Organization(1n, ActionRead);
    expect(code(c.prohibits(new FlyioAccess({ action: ActionRead })))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => new FlyioAccess({ action }));
  });

  it("Volumes (2): no volume is resource_unspecified — flyio/caveats.go:121 → resset/resource_set.go `if id == nil`", () => {
    const c = new Volumes.Class(ResourceSet.of("string", { v1: ActionRead }));
    expect(code(c.prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action }));
  });

  it("Apps (3): no app is resource_unspecified — flyio/caveats.go:105 `c.Apps.Prohibits(f.GetAppID(), …)`", () => {
    const c = new Apps.Class(ResourceSet.of("uint", { "20": ActionRead }));
    expect(code(c.prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action }));
  });

  it("ValidityWindow (4): names no resource, judges only the clock — caveats.go:38 ValidityWindow.Prohibits", () => {
    const c = new ValidityWindow(0n, 1n);
    expect(code(c.prohibits(fly({ now: new Date(5000) })))).toBe("token_expired");
    // Not unspecified, so inside IfPresent it decides (no fallback to Else).
    expect(ifPresent([c], "r").prohibits(fly({ now: new Date(5000) }))?.code).toBe("token_expired");
  });

  it("FeatureSet (5): no feature is resource_unspecified — flyio/caveats.go:174 `c.Features.Prohibits(f.GetFeature(), …)`", () => {
    const c = new FeatureSet.Class(ResourceSet.of("string", { wg: ActionRead }));
    expect(code(c.prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action }));
  });

  it("Mutations (6): no mutation is resource_unspecified, not unauthorized — flyio/caveats.go:192-193 `if f.GetMutation() == nil { … resset.ErrResourceUnspecified`", () => {
    const c = new Mutations(["createApp"]);
    expect(code(c.prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expect(code(new Mutations(null).prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action }));
  });

  it("Machines (7): no machine is resource_unspecified — flyio/caveats.go:137 `c.Machines.Prohibits(f.GetMachine(), …)`", () => {
    const c = new Machines.Class(ResourceSet.of("string", { m1: ActionRead }));
    expect(code(c.prohibits(fly({ appId: 1n })))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action, appId: 1n }));
  });

  it("ConfineUser (8): a request with no Fly identity is refused by the caveat itself, not unspecified — auth/caveats.go:80-81 `case len(dr.Flyio) == 0: return c`", () => {
    const c = new ConfineUser(7n);
    const e = c.prohibits(new DischargeRequest({}));
    expect(e).toBeInstanceOf(PermissionError);
    expect(code(e)).not.toBe(RESOURCE_UNSPECIFIED);
    expect(code(c.prohibits(fly()))).toBe(INVALID_ACCESS); // auth/caveats.go:78-79 `case !isDR`
  });

  it("ConfineOrganization (9): no Fly identity is refused, not unspecified — auth/caveats.go:47-48 `case len(dr.Flyio) == 0: return c`", () => {
    const e = new ConfineOrganization(7n).prohibits(new DischargeRequest({}));
    expect(e).toBeInstanceOf(PermissionError);
    expect(code(e)).not.toBe(RESOURCE_UNSPECIFIED);
  });

  it("IsUser (10): never restricts, whatever the access names — flyio/caveats.go:220-222 `return nil`", () => {
    const c: Caveat = new IsUser(1n);
    expect(c.prohibits(fly())).toBeUndefined();
    expect(c.prohibits(new PetsemAccess("list", 1n, 1n))).toBeUndefined();
  });

  it("3P (11): always bad_caveat (checked in verification, never by an access) — caveats.go:22-25 `ErrBadCaveat`", () => {
    const c: Caveat = new Caveat3P("https://tp", new Uint8Array(60), new Uint8Array(69));
    expect(code(c.prohibits(fly()))).toBe(BAD_CAVEAT);
  });

  it("BindToParentToken (12): always bad_caveat — caveats.go:68-71 `ErrBadCaveat`", () => {
    const c: Caveat = new BindToParentToken(new Uint8Array(16));
    expect(code(c.prohibits(fly()))).toBe(BAD_CAVEAT);
  });

  it("IfPresent (13): never answers unspecified itself; with nothing relevant it applies Else — resset/if_present.go:43 and :49 `if !ifBranch && !…IsSubsetOf(c.Else)`", () => {
    const inner = ifPresent([new Apps.Class(ResourceSet.of("uint", { "20": ActionRead }))], "r");
    expect(inner.prohibits(fly())).toBeUndefined();
    expect(code(inner.prohibits(fly({ action: ActionWrite })))).toBe(UNAUTHORIZED_FOR_ACTION);
    // Nested: the inner IfPresent's refusal is not "unspecified", so the outer IfPresent applies it.
    const outer = ifPresent([inner], "rw");
    expect(code(outer.prohibits(fly({ action: ActionWrite })))).toBe(UNAUTHORIZED_FOR_ACTION);
  });

  it("MachineFeatureSet (14): no machine feature is resource_unspecified — flyio/caveats.go:153 `c.Features.Prohibits(f.GetMachineFeature(), …)`", () => {
    const c = new MachineFeatureSet.Class(ResourceSet.of("string", { exec: ActionRead }));
    const a = (action: number) => fly({ action, appId: 1n, machine: "m1" });
    expect(code(c.prohibits(a(ActionRead)))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, a);
  });

  it("FromMachineSource (15): no source machine is invalid_access, NOT unspecified (so IfPresent applies it) — flyio/caveats.go:45-46 `case f.GetSourceMachine() == nil: … ErrInvalidAccess`", () => {
    const c = new FromMachine("m1");
    expect(code(c.prohibits(fly()))).toBe(INVALID_ACCESS);
    expect(code(ifPresent([c], "r").prohibits(fly()))).toBe(INVALID_ACCESS);
  });

  it("Clusters (16): no cluster is resource_unspecified — flyio/caveats.go:241 `c.Clusters.Prohibits(f.GetCluster(), …)`", () => {
    const c = new Clusters.Class(ResourceSet.of("string", { c1: ActionRead }));
    expect(code(c.prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action }));
  });

  it("ConfineGoogleHD (19): no Google identity is refused, not unspecified — auth/caveats.go:112-113 `case len(dr.Google) == 0: return c`", () => {
    const e = new ConfineGoogleHD("example.com").prohibits(new DischargeRequest({}));
    expect(e).toBeInstanceOf(PermissionError);
    expect(code(e)).not.toBe(RESOURCE_UNSPECIFIED);
  });

  it("ConfineGitHubOrg (20): no GitHub identity is refused, not unspecified — auth/caveats.go:144-145 `case len(dr.GitHub) == 0: return c`", () => {
    const e = new ConfineGitHubOrg(3n).prohibits(new DischargeRequest({}));
    expect(e).toBeInstanceOf(PermissionError);
    expect(code(e)).not.toBe(RESOURCE_UNSPECIFIED);
  });

  it("MaxValidity (21): names no resource; a request with no expiry fails closed (invalid_access; Go's zero Expiry would pass, README) — auth/caveats.go:168", () => {
    expect(code(new MaxValidity(60n).prohibits(new DischargeRequest({})))).toBe(INVALID_ACCESS);
    expect(code(new MaxValidity(60n).prohibits(fly()))).toBe(INVALID_ACCESS);
  });

  it("IsMember (22): an access naming no feature is a member's access and passes — flyio/caveats.go:335-337 → AllowedRoles(RoleMember)", () => {
    expect(new IsMember().prohibits(fly())).toBeUndefined();
    expect(new IsMember().prohibits(fly({ feature: "deletion" }))).toBeInstanceOf(PermissionError);
  });

  it("FlyioUserID, GitHubUserID, GoogleUserID (23-25): attestations always answer bad_caveat when asked — auth/caveats.go:205, :213, :221 `ErrBadCaveat`", () => {
    for (const c of [new FlyioUserID(1n), new GitHubUserID(1n), new GoogleUserID(1n)])
      expect(code(c.prohibits())).toBe(BAD_CAVEAT);
  });

  it("Action (26): names no resource, judges the action only — resset/action.go:129-134", () => {
    expect(new ActionCaveat(ActionRead).prohibits(fly())).toBeUndefined();
    expect(code(new ActionCaveat(ActionRead).prohibits(fly({ action: ActionWrite })))).toBe(
      UNAUTHORIZED_FOR_ACTION,
    );
  });

  it("Commands (27): no command is resource_unspecified — flyio/caveats.go:363-364 `if commandArgs == nil { … resset.ErrResourceUnspecified`", () => {
    const c = new Commands([{ args: ["ls"], exact: false }]);
    const a = (action: number) => fly({ action, appId: 1n, machine: "m1" });
    expect(code(c.prohibits(a(ActionRead)))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, a);
  });

  it("AppFeatureSet (28): no app feature is resource_unspecified — flyio/caveats.go:404 `c.Features.Prohibits(f.GetAppFeature(), …)`", () => {
    const c = new AppFeatureSet.Class(ResourceSet.of("string", { images: ActionRead }));
    const a = (action: number) => fly({ action, appId: 1n });
    expect(code(c.prohibits(a(ActionRead)))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, a);
  });

  it("StorageObjects (29): no storage object is resource_unspecified — flyio/caveats.go:428 `c.Prefixes.Prohibits(f.GetStorageObject(), …)`", () => {
    const c = new StorageObjects.Class(ResourceSet.of("prefix", { "https://s/b/": ActionRead }));
    expect(code(c.prohibits(fly()))).toBe(RESOURCE_UNSPECIFIED);
    expectIfPresentFallsBackToElse(c, (action) => fly({ action }));
  });

  it("AllowedRoles (30): names no resource; an access with no feature needs only the member role — flyio/caveats.go:307-320", () => {
    expect(new AllowedRoles(1).prohibits(fly())).toBeUndefined();
    expect(new AllowedRoles(0).prohibits(fly())).toBeInstanceOf(PermissionError);
  });

  it("FlySrc (31): missing Fly-Src fields are refused, never unspecified (Go's FlySrc source is not in the code index: reference §5 'each non-empty field must match')", () => {
    const c = new FlySrc("o", "", "");
    const e = c.prohibits(fly());
    expect(e).toBeInstanceOf(PermissionError);
    expect(code(e)).not.toBe(RESOURCE_UNSPECIFIED);
    expect(code(ifPresent([c], "r").prohibits(fly()))).toBe(code(e));
  });

  it("SecretOps and SecretScope (petsem's, no Go source): a PetsemAccess always names op, org and app; any other access is invalid_access, never unspecified", () => {
    expect(code(new SecretOps(["list"]).prohibits(fly()))).toBe(INVALID_ACCESS);
    expect(code(new SecretScope(1n, 0n).prohibits(fly()))).toBe(INVALID_ACCESS);
  });

  it("an unregistered type always refuses, and never as 'unspecified' (so IfPresent cannot skip it)", () => {
    const c = new UnregisteredCaveat(1n << 50n, new Uint8Array([0xc0]));
    const e = c.prohibits();
    expect(e).toBeInstanceOf(PermissionError);
    expect(code(e)).not.toBe(RESOURCE_UNSPECIFIED);
    expect(ifPresent([c], "rwcdC").prohibits(fly())).toBeInstanceOf(PermissionError);
  });
});
