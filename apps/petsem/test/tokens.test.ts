import { randomBytes } from "node:crypto";
import { Macaroon, ValidityWindow } from "@tkdb/macaroon";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { petsemCaveatKit as kit } from "../src/caveat-kit.js";
import { isPetsemError } from "../src/errors.js";
import type { PetsemOp } from "../src/rpc/index.js";
import { openPetsem } from "../src/server.js";
import { PetsemAuthority, READER_OPS, WRITER_OPS } from "../src/tokens.js";
import { freshStore, newKek, tempDir } from "./helpers.js";

const LOC = "https://api.fly.io/secrets/v1";
const TKDB = "https://api.fly.io/v1";
const OPS: PetsemOp[] = ["set", "unset", "list", "rollback", "resolve"];
const NONE_REVOKED = { isRevoked: () => false };

function authority(now = () => Date.now()) {
  return new PetsemAuthority({
    rootKey: newKek(),
    location: LOC,
    tkdbLocation: TKDB,
    tkdbSharedKey: newKek(),
    kit,
    revokedTokens: NONE_REVOKED,
    userRevocations: null,
    now,
  });
}

function verdict(a: PetsemAuthority, header: string, op: PetsemOp, org: bigint, app: bigint): string {
  try {
    a.authorize(header, [op], org, app);
    return "ok";
  } catch (e) {
    if (isPetsemError(e)) return e.code;
    throw e;
  }
}

describe("petsem tokens", () => {
  it("writer tokens allow exactly set, unset, list, rollback; readers need a discharge", () => {
    const a = authority();
    const writer = `FlyV1 ${a.mintWriter()}`;
    expect(OPS.map((op) => verdict(a, writer, op, 1n, 2n))).toEqual(["ok", "ok", "ok", "ok", "forbidden"]);
    const reader = a.mintReader();
    expect(reader.startsWith("fm2_")).toBe(true);
    const m = Macaroon.fromStringUnverified(reader, { registry: kit.registry });
    expect(m.location).toBe(LOC);
    expect(m.thirdPartyTickets().get(TKDB)?.length).toBe(1);
    expect(OPS.map((op) => verdict(a, `FlyV1 ${reader}`, op, 1n, 2n))).toEqual(Array(5).fill("unauthorized"));
    expect(WRITER_OPS & READER_OPS).toBe(0);
  });

  it("a token's own ValidityWindow is enforced", () => {
    let now = Date.now();
    const a = authority(() => now);
    const w = `FlyV1 ${a.mintWriter({ ttlSeconds: 60 })}`;
    expect(verdict(a, w, "list", 1n, 2n)).toBe("ok");
    now += 3600_000;
    expect(verdict(a, w, "list", 1n, 2n)).toBe("forbidden");
  });

  it("reader tokens cannot be minted without the tkdb shared key; app scope needs an org", () => {
    const a = new PetsemAuthority({
      rootKey: newKek(),
      location: LOC,
      tkdbLocation: TKDB,
      tkdbSharedKey: null,
      kit,
      revokedTokens: NONE_REVOKED,
      userRevocations: null,
    });
    expect(() => a.mintReader()).toThrow(/PETSEM_TKDB_SHARED_KEY/);
    expect(() => a.mintWriter({ app: 3n })).toThrow(/needs an org/);
  });

  it("a token with no SecretOps caveat allows nothing (default deny)", () => {
    const key = newKek();
    const a = new PetsemAuthority({
      rootKey: key,
      location: LOC,
      tkdbLocation: TKDB,
      tkdbSharedKey: null,
      kit,
      revokedTokens: NONE_REVOKED,
      userRevocations: null,
    });
    const bare = Macaroon.mint({
      key,
      kid: (
        Macaroon.fromStringUnverified(a.mintWriter(), { registry: kit.registry }).nonce.kid as Uint8Array
      ).slice(),
      location: LOC,
      registry: kit.registry,
    });
    expect(verdict(a, `FlyV1 ${bare.toString()}`, "list", 1n, 2n)).toBe("forbidden");
  });

  it("P13: attenuation only narrows: adding caveats never grants a request that was denied", () => {
    const a = authority();
    const base = a.mintWriter();
    const now = BigInt(Math.floor(Date.now() / 1000));
    const cavArb = fc.oneof(
      fc.integer({ min: 0, max: 31 }).map((m) => kit.secretOps(m)),
      fc
        .tuple(fc.bigInt({ min: 1n, max: 3n }), fc.bigInt({ min: 0n, max: 3n }))
        .map(([o, p]) => kit.secretScope(o, p)),
      fc
        .tuple(fc.bigInt({ min: -100n, max: 100n }), fc.bigInt({ min: -100n, max: 100n }))
        .map(([x, y]) => new ValidityWindow(now + x, now + x + (y < 0n ? -y : y))),
    );
    const reqArb = fc.tuple(
      fc.constantFrom(...OPS),
      fc.bigInt({ min: 1n, max: 3n }),
      fc.bigInt({ min: 1n, max: 3n }),
    );
    fc.assert(
      fc.property(
        fc.array(cavArb, { maxLength: 4 }),
        fc.array(cavArb, { minLength: 1, maxLength: 3 }),
        reqArb,
        (c1, c2, [op, org, app]) => {
          const m1 = Macaroon.fromStringUnverified(base, { registry: kit.registry });
          m1.add(...c1);
          const t1 = m1.toString();
          const m2 = Macaroon.fromStringUnverified(t1, { registry: kit.registry });
          m2.add(...c2);
          const before = verdict(a, `FlyV1 ${t1}`, op, org, app);
          const after = verdict(a, `FlyV1 ${m2.toString()}`, op, org, app);
          if (before !== "ok") expect(after).not.toBe("ok");
        },
      ),
      { numRuns: 150 },
    );
  });

  it("the macaroon root key is KEK-sealed in the store and survives a restart", () => {
    const dir = tempDir();
    const kek = newKek();
    const cfg = { dataDir: dir, kek, tkdbSharedKey: newKek() };
    const first = openPetsem(cfg);
    const writer = `FlyV1 ${first.authority.mintWriter()}`;
    first.close();
    const second = openPetsem(cfg);
    try {
      expect(verdict(second.authority, writer, "list", 1n, 1n)).toBe("ok");
    } finally {
      second.close();
    }
    expect(() => openPetsem({ ...cfg, kek: newKek() })).toThrow(/key-encryption key/);
    // another petsem (another database) does not accept it
    const { store } = freshStore("native");
    const other = new PetsemAuthority({
      rootKey: store.metaKey("macaroon_root_key"),
      location: LOC,
      tkdbLocation: TKDB,
      tkdbSharedKey: null,
      kit,
      revokedTokens: NONE_REVOKED,
      userRevocations: null,
    });
    expect(verdict(other, writer, "list", 1n, 1n)).toBe("unauthorized");
    expect(verdict(other, "FlyV1 not-a-token", "list", 1n, 1n)).toBe("unauthorized");
    expect(verdict(other, `FlyV1 fm2_${randomBytes(40).toString("base64")}`, "list", 1n, 1n)).toBe(
      "unauthorized",
    );
    expect(verdict(other, "x".repeat(100_000), "list", 1n, 1n)).toBe("unauthorized");
  });
});
