import { inspect } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randomBytes } from "../src/crypto.js";
import { isServiceError } from "../src/errors.js";
import { Keyring } from "../src/keyring.js";
import { keyringFromEnv, parseKek } from "../src/keyring-env.js";
import { isKeyringError, type KeyringErrorCode } from "../src/keyring-errors.js";
import { type Binding, PURPOSES } from "../src/keyring-format.js";

const utf8 = new TextEncoder();
const at: Binding = { table: "root_keys", column: "sealed_key", row: "org-1" };

function codeOf(fn: () => unknown): KeyringErrorCode | string {
  try {
    fn();
  } catch (e) {
    if (isKeyringError(e)) return e.code;
    if (isServiceError(e)) return e.code;
    throw e;
  }
  throw new Error("did not throw");
}

describe("sealed fields: one format, bound to purpose, table, column and row", () => {
  const ring = Keyring.create({ current: randomBytes(32) });

  it("every purpose round-trips, and the blob is 0x02 ‖ kid ‖ nonce ‖ ciphertext ‖ tag", () => {
    for (const p of PURPOSES) {
      const pt = randomBytes(32);
      const blob = ring.seal(p, pt, at);
      expect(blob[0]).toBe(0x02);
      expect(Buffer.from(blob.subarray(1, 9)).toString("hex")).toBe(ring.current);
      expect(blob.length).toBe(1 + 8 + 12 + 32 + 16);
      expect(ring.open(p, blob, at)).toEqual(pt);
    }
  });

  it("a blob moved to another row, column, table or purpose does not open (integrity)", () => {
    const blob = ring.seal("root-key", utf8.encode("k"), at);
    expect(codeOf(() => ring.open("root-key", blob, { ...at, row: "org-2" }))).toBe("integrity");
    expect(codeOf(() => ring.open("root-key", blob, { ...at, column: "other" }))).toBe("integrity");
    expect(codeOf(() => ring.open("root-key", blob, { ...at, table: "apps" }))).toBe("integrity");
    expect(codeOf(() => ring.open("third-party-key", blob, at))).toBe("integrity");
    expect(codeOf(() => ring.open("data-key", blob, at))).toBe("integrity");
  });

  it("composite rows are encoded unambiguously: (ab, c) and (a, bc), 1 and '1' are different rows", () => {
    const b1 = ring.seal("data-key", utf8.encode("k"), { table: "apps", column: "dek", row: ["ab", "c"] });
    expect(codeOf(() => ring.open("data-key", b1, { table: "apps", column: "dek", row: ["a", "bc"] }))).toBe(
      "integrity",
    );
    const b2 = ring.seal("data-key", utf8.encode("k"), { table: "apps", column: "dek", row: ["o", 1] });
    expect(codeOf(() => ring.open("data-key", b2, { table: "apps", column: "dek", row: ["o", "1"] }))).toBe(
      "integrity",
    );
    expect(ring.open("data-key", b2, { table: "apps", column: "dek", row: ["o", 1n] })).toEqual(
      utf8.encode("k"),
    );
  });

  it("any bit flipped anywhere in a blob makes it fail to open (integrity or wrong_kek, never plaintext)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), fc.nat(), (pt, pos) => {
        const blob = ring.seal("idempotency-result", pt, at);
        const bit = pos % (blob.length * 8);
        const bad = new Uint8Array(blob);
        bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
        const code = codeOf(() => ring.open("idempotency-result", bad, at));
        expect(["integrity", "wrong_kek"]).toContain(code);
      }),
      { seed: 1302, numRuns: 300 },
    );
  });

  it("truncated or foreign bytes are integrity errors; bad bindings are invalid_request", () => {
    const blob = ring.seal("root-key", utf8.encode("k"), at);
    for (let n = 0; n < blob.length; n++)
      expect(codeOf(() => ring.open("root-key", blob.subarray(0, n), at))).toBe("integrity");
    expect(codeOf(() => ring.open("root-key", blob, { table: "x; drop", column: "c", row: "r" }))).toBe(
      "invalid_request",
    );
    expect(codeOf(() => ring.seal("root-key", utf8.encode("k"), { table: "t", column: "c", row: [] }))).toBe(
      "invalid_request",
    );
    expect(codeOf(() => ring.seal("nope" as "root-key", utf8.encode("k"), at))).toBe("invalid_request");
    expect(codeOf(() => ring.seal("root-key", "k" as unknown as Uint8Array, at))).toBe("invalid_request");
  });

  it("two seals of the same plaintext differ (fresh nonce each time)", () => {
    expect(ring.seal("root-key", utf8.encode("k"), at)).not.toEqual(
      ring.seal("root-key", utf8.encode("k"), at),
    );
  });
});

describe("key ids and roles", () => {
  it("the kid is derived from the KEK: stable for one key, different across keys, 16 hex chars", () => {
    const k = randomBytes(32);
    const a = Keyring.create({ current: k });
    const b = Keyring.create({ current: new Uint8Array(k) });
    expect(a.current).toBe(b.current);
    expect(a.current).toMatch(/^[0-9a-f]{16}$/);
    expect(Keyring.create({ current: randomBytes(32) }).current).not.toBe(a.current);
  });

  it("a blob sealed under a KEK this keyring does not hold is wrong_kek, not integrity", () => {
    const blob = Keyring.create({ current: randomBytes(32) }).seal("root-key", utf8.encode("k"), at);
    expect(codeOf(() => Keyring.create({ current: randomBytes(32) }).open("root-key", blob, at))).toBe(
      "wrong_kek",
    );
  });

  it("a retired KEK opens what it sealed but never seals; current and next both seal", () => {
    const old = randomBytes(32);
    const nxt = randomBytes(32);
    const before = Keyring.create({ current: old });
    const blob = before.seal("root-key", utf8.encode("k"), at);
    const after = Keyring.create({ current: randomBytes(32), next: nxt, retired: [old] });
    expect(after.open("root-key", blob, at)).toEqual(utf8.encode("k"));
    expect(codeOf(() => after.seal("root-key", utf8.encode("k"), at, { kid: before.current }))).toBe(
      "wrong_kek",
    );
    const underNext = after.seal("root-key", utf8.encode("n"), at, { kid: after.next as string });
    expect(Keyring.create({ current: nxt }).open("root-key", underNext, at)).toEqual(utf8.encode("n"));
  });

  it("a KEK given twice, or not 32 bytes, is a config error", () => {
    const k = randomBytes(32);
    expect(codeOf(() => Keyring.create({ current: k, next: new Uint8Array(k) }))).toBe("config");
    expect(codeOf(() => Keyring.create({ current: k, retired: [randomBytes(32), k] }))).toBe("config");
    expect(codeOf(() => Keyring.create({ current: randomBytes(31) }))).toBe("config");
    expect(codeOf(() => Keyring.create({ current: "k" as unknown as Uint8Array }))).toBe("config");
  });

  it("destroy wipes the keys and every later use is refused", () => {
    const ring = Keyring.create({ current: randomBytes(32) });
    const blob = ring.seal("root-key", utf8.encode("k"), at);
    ring.destroy();
    expect(codeOf(() => ring.open("root-key", blob, at))).toBe("invalid_request");
    expect(codeOf(() => ring.seal("root-key", utf8.encode("k"), at))).toBe("invalid_request");
  });

  it("JSON and util.inspect of a keyring show kids and roles, never key bytes", () => {
    const k = randomBytes(32);
    const ring = Keyring.create({ current: k, retired: [randomBytes(32)] });
    const kHex = Buffer.from(k).toString("hex");
    for (const text of [JSON.stringify(ring), inspect(ring, { showHidden: true, depth: 10 }), String(ring)]) {
      expect(text).not.toContain(kHex);
      expect(text).not.toContain(Buffer.from(k).toString("base64"));
    }
    expect(JSON.parse(JSON.stringify(ring))).toEqual({
      keks: [
        { kid: ring.current, role: "current" },
        { kid: ring.keks[1]?.kid, role: "retired" },
      ],
    });
  });
});

describe("check values: which KEK a database is under", () => {
  it("checkRole names the KEK whose check value it is; another keyring gets wrong_kek", () => {
    const ring = Keyring.create({ current: randomBytes(32), next: randomBytes(32) });
    expect(ring.checkRole(ring.checkValue())).toEqual({ kid: ring.current, role: "current" });
    expect(ring.checkRole(ring.checkValue(ring.next))).toEqual({ kid: ring.next, role: "next" });
    expect(codeOf(() => Keyring.create({ current: randomBytes(32) }).checkRole(ring.checkValue()))).toBe(
      "wrong_kek",
    );
  });

  it("sealingKid follows the check value: after a rotation writes the next check, every node seals under next", () => {
    const ring = Keyring.create({ current: randomBytes(32), next: randomBytes(32) });
    const before = ring.checkValue();
    expect(ring.sealingKid(before)).toBe(ring.current);
    expect(ring.sealingKid(before)).toBe(ring.current); // cached
    const after = ring.checkValue(ring.next);
    expect(ring.sealingKid(after)).toBe(ring.next);
  });

  it("a database under a retired KEK (a restore from before a rotation) opens but refuses writes until rotated", () => {
    const old = randomBytes(32);
    const check = Keyring.create({ current: old }).checkValue();
    const ring = Keyring.create({ current: randomBytes(32), retired: [old] });
    expect(ring.checkRole(check).role).toBe("retired");
    expect(codeOf(() => ring.sealingKid(check))).toBe("wrong_kek");
  });
});

describe("keyed fingerprints (idempotency)", () => {
  it("match exactly the same parts, and framing keeps (ab, c) apart from (a, bc)", () => {
    const ring = Keyring.create({ current: randomBytes(32) });
    const fp = ring.fingerprint(["client", "rid", "mint", '{"a":1}']);
    expect(fp.length).toBe(41);
    expect(ring.fingerprintMatches(fp, ["client", "rid", "mint", '{"a":1}'])).toBe(true);
    expect(ring.fingerprintMatches(fp, ["client", "rid", "mint", '{"a":2}'])).toBe(false);
    const ab = ring.fingerprint(["ab", "c"]);
    expect(ring.fingerprintMatches(ab, ["a", "bc"])).toBe(false);
    expect(ring.fingerprintMatches(ab, [utf8.encode("ab"), "c"])).toBe(false);
  });

  it("a fingerprint depends on the KEK: the same parts under another KEK do not match", () => {
    const a = Keyring.create({ current: randomBytes(32) });
    const b = Keyring.create({ current: randomBytes(32) });
    expect(Buffer.from(a.fingerprint(["x"]).subarray(9))).not.toEqual(
      Buffer.from(b.fingerprint(["x"]).subarray(9)),
    );
    expect(codeOf(() => b.fingerprintMatches(a.fingerprint(["x"]), ["x"]))).toBe("wrong_kek");
  });

  it("a fingerprint made before a rotation still matches while its KEK is configured (as retired)", () => {
    const old = randomBytes(32);
    const fp = Keyring.create({ current: old }).fingerprint(["c", "r"]);
    expect(
      Keyring.create({ current: randomBytes(32), retired: [old] }).fingerprintMatches(fp, ["c", "r"]),
    ).toBe(true);
  });
});

describe("keyringFromEnv: configuration arrives as an env object", () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const k3 = randomBytes(32);
  const hexOf = (k: Uint8Array) => Buffer.from(k).toString("hex");
  const b64 = (k: Uint8Array) => Buffer.from(k).toString("base64url");

  it("reads P_KEK, P_KEK_NEXT and P_KEK_RETIRED (hex or base64url, a list for retired)", () => {
    const ring = keyringFromEnv(
      { TKDB_KEK: hexOf(k1), TKDB_KEK_NEXT: b64(k2), TKDB_KEK_RETIRED: ` ${hexOf(k3)},\n` },
      "TKDB",
    );
    expect(ring.keks.map((k) => k.role)).toEqual(["current", "next", "retired"]);
    expect(ring.current).toBe(Keyring.create({ current: k1 }).current);
  });

  it("reads *_FILE variables through the given reader", () => {
    const files: Record<string, string> = { "/k": `${hexOf(k1)}\n`, "/r": `${b64(k2)}\n${b64(k3)}\n` };
    const ring = keyringFromEnv({ PETSEM_KEK_FILE: "/k", PETSEM_KEK_RETIRED_FILE: "/r" }, "PETSEM", {
      readFile: (p) => files[p] as string,
    });
    expect(ring.keks.map((k) => k.role)).toEqual(["current", "retired", "retired"]);
  });

  it("errors name the variable and never echo the value", () => {
    const bad = `${hexOf(k1).slice(0, 60)}zz`;
    for (const env of [
      {},
      { TKDB_KEK: bad },
      { TKDB_KEK: hexOf(k1), TKDB_KEK_FILE: "/k" },
      { TKDB_KEK: hexOf(k1), TKDB_KEK_RETIRED: `${hexOf(k2)},${bad}` },
    ]) {
      let err: unknown;
      try {
        keyringFromEnv(env, "TKDB", { readFile: () => "" });
      } catch (e) {
        err = e;
      }
      expect(isServiceError(err, "config")).toBe(true);
      const text = `${(err as Error).message} ${JSON.stringify(err)}`;
      expect(text).toMatch(/TKDB_KEK/);
      expect(text).not.toContain(bad);
      expect(text).not.toContain(hexOf(k1));
      expect(text).not.toContain(hexOf(k2));
    }
    expect(codeOf(() => keyringFromEnv({ TKDB_KEK: hexOf(k1), TKDB_KEK_NEXT: hexOf(k1) }, "TKDB"))).toBe(
      "config",
    );
  });

  it("parseKek accepts exactly 32 bytes", () => {
    expect(parseKek(hexOf(k1), "X")).toEqual(k1);
    expect(parseKek(`${b64(k1)}=`, "X")).toEqual(k1);
    expect(codeOf(() => parseKek(hexOf(k1).slice(2), "X"))).toBe("config");
  });
});
