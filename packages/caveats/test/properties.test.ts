import {
  type Caveat,
  caveatSetFromJSON,
  caveatSetToJSON,
  decodeCaveatSet,
  encodeCaveatSet,
  stringifyJSON,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ActionCaveat,
  AllowedRoles,
  Apps,
  Commands,
  ConfineOrganization,
  ConfineUser,
  DischargeRequest,
  FeatureSet,
  FlyioAccess,
  FlySrc,
  FromMachine,
  flyRegistry,
  IsMember,
  Machines,
  MaxValidity,
  Mutations,
  makeIfPresent,
  Organization,
  PetsemAccess,
  ResourceSet,
  SecretOps,
  SecretScope,
  StorageObjects,
  Volumes,
} from "../src/index.js";

const action = fc.integer({ min: 0, max: 0x1f });
const smallId = fc.bigInt({ min: 0n, max: 4n });
const name = fc.constantFrom("a", "b", "wg", "builder", "é");

const leaf: fc.Arbitrary<Caveat> = fc.oneof(
  fc.tuple(smallId, action).map(([id, m]) => new Organization(id, m)),
  fc
    .dictionary(fc.constantFrom("1", "2", "3"), action, { maxKeys: 3 })
    .map((d) => new Apps.Class(ResourceSet.of("uint", d))),
  fc.dictionary(name, action, { maxKeys: 3 }).map((d) => new FeatureSet.Class(ResourceSet.of("string", d))),
  fc.dictionary(name, action, { maxKeys: 2 }).map((d) => new Machines.Class(ResourceSet.of("string", d))),
  action.map((a) => new ActionCaveat(a)),
  fc.array(name, { maxLength: 3 }).map((m) => new Mutations(m)),
  fc
    .array(
      fc.record({
        args: fc.option(fc.array(name, { maxLength: 3 }), { nil: null }),
        exact: fc.boolean(),
      }),
      { maxLength: 2 },
    )
    .map((c) => new Commands(c)),
  fc.tuple(name, name, fc.constantFrom("", "i")).map(([o, a, i]) => new FlySrc(o, a, i)),
  fc.constant(new IsMember()),
  fc.constantFrom(1, 2, 3, 0xffffffff).map((m) => new AllowedRoles(m)),
  fc.dictionary(name, action, { maxKeys: 2 }).map((d) => new Volumes.Class(ResourceSet.of("string", d))),
  fc
    .dictionary(fc.constantFrom("s/", "s/a", "t/"), action, { maxKeys: 2 })
    .map((d) => new StorageObjects.Class(ResourceSet.of("prefix", d))),
  name.map((m) => new FromMachine(m)),
  smallId.map((o) => new ConfineOrganization(o)),
  smallId.map((u) => new ConfineUser(u)),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 100n }), fc.bigInt({ min: 0n, max: 100n }))
    .map(([a, b]) => new ValidityWindow(a, b)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((s) => new MaxValidity(s)),
  fc.subarray(["set", "unset", "list", "rollback", "resolve"] as const).map((o) => new SecretOps(o)),
  fc
    .tuple(fc.bigInt({ min: 1n, max: 3n }), fc.bigInt({ min: 0n, max: 3n }))
    .map(([o, a]) => new SecretScope(o, a)),
);
const caveat: fc.Arbitrary<Caveat> = fc.oneof(
  { weight: 5, arbitrary: leaf },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(leaf, { maxLength: 2 }), action)
      .map(([i, e]) => makeIfPresent(i, e, flyRegistry)),
  },
);
const caveatSet = fc.array(caveat, { maxLength: 6 });

const flyAccess = fc
  .record({
    action,
    orgId: smallId,
    appId: fc.option(fc.bigInt({ min: 1n, max: 3n }), { nil: undefined }),
    feature: fc.option(name, { nil: undefined }),
    volume: fc.option(name, { nil: undefined }),
    sourceMachine: fc.option(name, { nil: undefined }),
    storageObject: fc.option(fc.constantFrom("s/a/1", "s/b", "t/x"), { nil: undefined }),
    now: fc.constant(new Date(50_000)),
  })
  .map((f) => (f.volume !== undefined && f.appId === undefined ? { ...f, volume: undefined } : f))
  .map((f) => new FlyioAccess(f));
const dischargeRequest = fc
  .record({
    userId: smallId,
    orgs: fc.array(smallId, { maxLength: 2 }),
    life: fc.integer({ min: 0, max: 200 }),
  })
  .map(
    ({ userId, orgs, life }) =>
      new DischargeRequest({
        flyio: [{ userId, organizationIds: orgs }],
        now: new Date(50_000),
        expiry: new Date(50_000 + life * 1000),
      }),
  );
const petsemAccess = fc
  .tuple(
    fc.constantFrom("set", "unset", "list", "rollback", "resolve" as const),
    fc.bigInt({ min: 1n, max: 3n }),
    fc.bigInt({ min: 1n, max: 3n }),
  )
  .map(([op, o, a]) => new PetsemAccess(op, o, a, new Date(50_000)));

const allows = (cavs: readonly Caveat[], a: FlyioAccess | PetsemAccess | DischargeRequest) => {
  try {
    validateCaveats(cavs, a);
    return true;
  } catch {
    return false;
  }
};

describe("properties", () => {
  it("msgpack: decode(encode(set)) re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(caveatSet, (cavs) => {
        const bytes = encodeCaveatSet(cavs);
        expect(encodeCaveatSet(decodeCaveatSet(bytes, flyRegistry))).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it("JSON: fromJSON(toJSON(set)) encodes to the same msgpack bytes", () => {
    fc.assert(
      fc.property(caveatSet, (cavs) => {
        // The JSON value as produced (integers past 2^53 stay bigint) parses back exactly.
        const json = caveatSetToJSON(cavs, flyRegistry);
        expect(encodeCaveatSet(caveatSetFromJSON(json, flyRegistry))).toEqual(encodeCaveatSet(cavs));
        // Through JSON text, parsing either gives the same bytes or refuses: it never rounds an integer.
        let back: Caveat[] | undefined;
        try {
          back = caveatSetFromJSON(JSON.parse(stringifyJSON(json)), flyRegistry);
        } catch (e) {
          expect((e as { code?: string }).code).toBe("bad_caveat_json");
        }
        if (back) expect(encodeCaveatSet(back)).toEqual(encodeCaveatSet(cavs));
      }),
      { numRuns: 200 },
    );
  });

  it("attenuation never widens: whatever A ∪ B allows, A allows", () => {
    fc.assert(
      fc.property(
        fc.array(caveat, { maxLength: 2 }),
        fc.array(caveat, { maxLength: 2 }),
        fc.oneof(flyAccess, petsemAccess, dischargeRequest),
        (a, b, acc) => {
          if (allows([...a, ...b], acc)) expect(allows(a, acc)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
