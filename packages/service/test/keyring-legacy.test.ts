/**
 * Databases made at bea118d still open: every blob in fixtures/legacy-bea118d.json was sealed by
 * bea118d's own apps/tkdb/src/crypto.ts and apps/petsem/src/crypto.ts (both their native and
 * @noble backends; fixtures/make-legacy-bea118d.ts made them), and opens here.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Keyring } from "../src/keyring.js";
import { isKeyringError } from "../src/keyring-errors.js";
import type { Binding } from "../src/keyring-format.js";
import { type LegacyFormat, openLegacyPetsemValue } from "../src/keyring-legacy.js";
import { planRotation } from "../src/keyring-rotation.js";

interface Fixture {
  kekA: string;
  kekB: string;
  tkdbRootKeys: { backend: string; kek: string; org: string; kid: string; key: string; sealed: string }[];
  tkdbKekChecks: { backend: string; kek: string; check: string }[];
  petsemWrappedKeys: {
    backend: string;
    kek: string;
    purpose:
      | { kind: "dek" | "digest-key"; org: string; app: string; kid: number }
      | { kind: "server-key" | "macaroon-root-key" };
    key: string;
    wrapped: string;
  }[];
  petsemValues: {
    backend: string;
    dek: string;
    at: { org: string; app: string; name: string; version: number; kid: number };
    value: string;
    sealed: string;
  }[];
}

const fx = JSON.parse(
  readFileSync(new URL("./fixtures/legacy-bea118d.json", import.meta.url), "utf8"),
) as Fixture;
const h = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const kekA = h(fx.kekA);
const kekB = h(fx.kekB);
/** The keyring after a deployment rotated from kekB to kekA and kept kekB for the backup window. */
const ring = Keyring.create({ current: kekA, retired: [kekB] });
const rootKeyAt = (org: string): Binding => ({ table: "root_keys", column: "sealed_key", row: org });
const petsemFormat = (p: Fixture["petsemWrappedKeys"][number]["purpose"]): LegacyFormat =>
  ({ format: "petsem-wrapped-key", ...p }) as LegacyFormat;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isKeyringError(e)) return e.code;
    throw e;
  }
  return "opened";
}

describe("tkdb at bea118d: ChaCha20-Poly1305 root keys and the kek_check value", () => {
  it("fixtures cover both of bea118d's backends", () => {
    expect(new Set(fx.tkdbRootKeys.map((r) => r.backend))).toEqual(new Set(["native", "noble"]));
    expect(new Set(fx.petsemWrappedKeys.map((r) => r.backend))).toEqual(new Set(["native", "noble"]));
  });

  it("every root key opens with the KEK that sealed it (current or retired), giving the original key", () => {
    for (const r of fx.tkdbRootKeys) {
      const legacy: LegacyFormat = { format: "tkdb-root-key", org: r.org, kid: h(r.kid) };
      const o = ring.openAny("root-key", h(r.sealed), rootKeyAt(r.org), legacy);
      expect(Buffer.from(o.plaintext).toString("hex")).toBe(r.key);
      expect(o.format).toBe("legacy");
      expect(o.role).toBe(r.kek === "kekA" ? "current" : "retired");
    }
  });

  it("a root key moved to another org or kid does not open, nor under a keyring without its KEK", () => {
    const r = fx.tkdbRootKeys[0] as Fixture["tkdbRootKeys"][number];
    const moved: LegacyFormat = { format: "tkdb-root-key", org: "org-evil", kid: h(r.kid) };
    expect(code(() => ring.openAny("root-key", h(r.sealed), rootKeyAt("org-evil"), moved))).toBe("integrity");
    const otherKid: LegacyFormat = { format: "tkdb-root-key", org: r.org, kid: new Uint8Array(16) };
    expect(code(() => ring.openAny("root-key", h(r.sealed), rootKeyAt(r.org), otherKid))).toBe("integrity");
    const onlyB = Keyring.create({ current: kekB });
    const legacy: LegacyFormat = { format: "tkdb-root-key", org: r.org, kid: h(r.kid) };
    expect(code(() => onlyB.openAny("root-key", h(r.sealed), rootKeyAt(r.org), legacy))).toBe("integrity");
  });

  it("tkdb's kek_check names the KEK a bea118d database is under; another KEK gets wrong_kek", () => {
    for (const c of fx.tkdbKekChecks) {
      const info = ring.checkRole(h(c.check), { format: "tkdb-kek-check" });
      expect(info.role).toBe(c.kek === "kekA" ? "current" : "retired");
    }
    const stranger = Keyring.create({ current: new Uint8Array(32).fill(9) });
    expect(
      code(() => stranger.checkRole(h(fx.tkdbKekChecks[0]?.check as string), { format: "tkdb-kek-check" })),
    ).toBe("wrong_kek");
  });
});

describe("petsem at bea118d: AES-256-GCM wrapped keys and values under the app's DEK", () => {
  it("every wrapped key (dek, digest-key, server-key, macaroon-root-key) unwraps to the original", () => {
    for (const w of fx.petsemWrappedKeys) {
      const at: Binding = { table: "apps", column: "wrapped_dek", row: "any" };
      const o = ring.openAny("data-key", h(w.wrapped), at, petsemFormat(w.purpose));
      expect(Buffer.from(o.plaintext).toString("hex")).toBe(w.key);
      expect(o.role).toBe(w.kek === "kekA" ? "current" : "retired");
    }
  });

  it("a DEK wrap moved to another app, kind or kid does not open", () => {
    const w = fx.petsemWrappedKeys.find(
      (x) => x.purpose.kind === "dek",
    ) as Fixture["petsemWrappedKeys"][number];
    const p = w.purpose as { kind: "dek"; org: string; app: string; kid: number };
    const at: Binding = { table: "apps", column: "wrapped_dek", row: "any" };
    for (const moved of [
      { ...p, app: "other" },
      { ...p, kind: "digest-key" as const },
      { ...p, kid: p.kid + 1 },
    ]) {
      expect(code(() => ring.openAny("data-key", h(w.wrapped), at, petsemFormat(moved)))).toBe("integrity");
    }
  });

  it("petsem's wrapped server-key serves as its check value", () => {
    const w = fx.petsemWrappedKeys.find((x) => x.purpose.kind === "server-key" && x.kek === "kekB");
    const info = ring.checkRole(h(w?.wrapped as string), {
      format: "petsem-wrapped-key",
      kind: "server-key",
    });
    expect(info.role).toBe("retired");
  });

  it("every secret value opens with its DEK at its (org, app, name, version), and nowhere else", () => {
    for (const v of fx.petsemValues) {
      expect(new TextDecoder().decode(openLegacyPetsemValue(h(v.dek), v.at, h(v.sealed)))).toBe(v.value);
      for (const moved of [
        { ...v.at, name: "OTHER" },
        { ...v.at, version: v.at.version + 1 },
        { ...v.at, kid: 2 },
        { ...v.at, org: "org-2" },
      ]) {
        expect(code(() => openLegacyPetsemValue(h(v.dek), moved, h(v.sealed)))).toBe("integrity");
      }
    }
  });
});

describe("kek rotate moves bea118d blobs into the shared format", () => {
  it("a rotation to the current KEK rewraps every legacy root key and DEK; afterwards they open without the legacy hint", () => {
    const records = [
      ...fx.tkdbRootKeys.map((r, i) => ({
        ref: `rk${i}`,
        purpose: "root-key" as const,
        binding: rootKeyAt(r.org),
        blob: h(r.sealed),
        legacy: { format: "tkdb-root-key", org: r.org, kid: h(r.kid) } as LegacyFormat,
        expect: r.key,
      })),
      ...fx.petsemWrappedKeys.map((w, i) => ({
        ref: `wk${i}`,
        purpose: "data-key" as const,
        binding: { table: "apps", column: "wrapped_dek", row: [w.backend, i] } as Binding,
        blob: h(w.wrapped),
        legacy: petsemFormat(w.purpose),
        expect: w.key,
      })),
    ];
    const plan = planRotation(ring, records);
    expect(plan.target).toBe(ring.current);
    expect(plan.counts.legacy).toBe(records.length);
    expect(plan.updates.length).toBe(records.length);
    const onlyA = Keyring.create({ current: kekA });
    for (const u of plan.updates) {
      const rec = records.find((r) => r.ref === u.ref) as (typeof records)[number];
      expect(Buffer.from(onlyA.open(rec.purpose, u.blob, rec.binding)).toString("hex")).toBe(rec.expect);
    }
    expect(onlyA.checkRole(plan.checkValue).role).toBe("current");
  });
});
