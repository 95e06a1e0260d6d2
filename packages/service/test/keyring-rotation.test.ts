/**
 * KEK rotation on the shared format. A "database" here is a Map of rows plus a check value; the
 * app applies a plan to SQLite in one transaction (README "Keyring"), so the states a crash can
 * leave are exactly "before" and "after": these tests prove each opens with the KEK it should.
 */
import { describe, expect, it } from "vitest";
import { randomBytes } from "../src/crypto.js";
import { Keyring } from "../src/keyring.js";
import { isKeyringError } from "../src/keyring-errors.js";
import type { Binding, Purpose } from "../src/keyring-format.js";
import { planRotation, type RotationPlan, type SealedRecord } from "../src/keyring-rotation.js";

interface Row {
  purpose: Purpose;
  binding: Binding;
  blob: Uint8Array;
  plain: Uint8Array;
}
interface Db {
  rows: Map<string, Row>;
  check: Uint8Array;
}

function makeDb(ring: Keyring, n = 12): Db {
  const rows = new Map<string, Row>();
  const purposes: Purpose[] = ["root-key", "third-party-key", "idempotency-result", "data-key"];
  for (let i = 0; i < n; i++) {
    const purpose = purposes[i % purposes.length] as Purpose;
    const binding: Binding = {
      table: `t_${purpose.replace(/-/g, "_")}`,
      column: "sealed",
      row: [`org-${i}`, i],
    };
    const plain = randomBytes(32);
    rows.set(`r${i}`, { purpose, binding, plain, blob: ring.seal(purpose, plain, binding) });
  }
  return { rows, check: ring.checkValue() };
}

const records = (db: Db): SealedRecord<string>[] =>
  [...db.rows].map(([ref, r]) => ({ ref, purpose: r.purpose, binding: r.binding, blob: r.blob }));

/** What the app does inside its one transaction: write every update and the check value. */
function apply(db: Db, plan: RotationPlan<string>): Db {
  const rows = new Map([...db.rows].map(([k, r]) => [k, { ...r }]));
  for (const u of plan.updates) (rows.get(u.ref) as Row).blob = u.blob;
  return { rows, check: plan.checkValue };
}

/** Opens the whole database the way a service does at start: check value first, then every row. */
function opensWith(ring: Keyring, db: Db): boolean {
  try {
    ring.checkRole(db.check);
    for (const r of db.rows.values()) expect(ring.open(r.purpose, r.blob, r.binding)).toEqual(r.plain);
    return true;
  } catch (e) {
    if (isKeyringError(e)) return false;
    throw e;
  }
}

describe("kek rotate: one transaction from the old KEK to the next", () => {
  const oldKek = randomBytes(32);
  const newKek = randomBytes(32);
  const rotating = Keyring.create({ current: oldKek, next: newKek });
  const before = makeDb(Keyring.create({ current: oldKek }));
  const plan = planRotation(rotating, records(before));
  const after = apply(before, plan);

  it("rewraps every sealed field under the next KEK and writes the next KEK's check value", () => {
    expect(plan.target).toBe(rotating.next);
    expect(plan.counts).toMatchObject({ total: 12, rewrapped: 12, alreadyUnderTarget: 0, legacy: 0 });
    expect(plan.counts.byKid).toEqual({ [rotating.current]: 12 });
    for (const r of after.rows.values()) expect(rotating.kidOfUnverified(r.blob)).toBe(rotating.next);
    expect(rotating.checkRole(after.check)).toEqual({ kid: rotating.next, role: "next" });
  });

  it("either state a kill -9 can leave opens: before with the old KEK alone, after with the new KEK alone", () => {
    expect(opensWith(Keyring.create({ current: oldKek }), before)).toBe(true);
    expect(opensWith(Keyring.create({ current: newKek }), after)).toBe(true);
    // and neither opens with only the other KEK: the check value says which one is needed
    expect(opensWith(Keyring.create({ current: newKek }), before)).toBe(false);
    expect(opensWith(Keyring.create({ current: oldKek }), after)).toBe(false);
  });

  it("the service keeps serving through it: a node holding both KEKs opens both states and seals per the check", () => {
    expect(opensWith(rotating, before)).toBe(true);
    expect(opensWith(rotating, after)).toBe(true);
    expect(rotating.sealingKid(before.check)).toBe(rotating.current);
    expect(rotating.sealingKid(after.check)).toBe(rotating.next);
  });

  it("after promotion (new KEK current, old retired for the backup window) the rotated database opens and is written under the new KEK", () => {
    const promoted = Keyring.create({ current: newKek, retired: [oldKek] });
    expect(opensWith(promoted, after)).toBe(true);
    expect(promoted.sealingKid(after.check)).toBe(promoted.current);
  });

  it("a re-run finds nothing to do (already under the target), so it is safe to repeat", () => {
    const again = planRotation(rotating, records(after));
    expect(again.updates).toEqual([]);
    expect(again.counts.alreadyUnderTarget).toBe(12);
  });

  it("the plan carries blobs only, never a plaintext", () => {
    const text = JSON.stringify(plan, (_k, v) =>
      v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
    );
    for (const r of before.rows.values()) expect(text).not.toContain(Buffer.from(r.plain).toString("hex"));
  });
});

describe("kek rotate refuses to half-work", () => {
  it("one record that does not open stops the whole plan before anything could be written", () => {
    const ring = Keyring.create({ current: randomBytes(32), next: randomBytes(32) });
    const db = makeDb(ring);
    const recs = records(db);
    const bad = recs[7] as SealedRecord<string>;
    bad.blob = new Uint8Array(bad.blob);
    bad.blob[30] = (bad.blob[30] as number) ^ 1;
    let err: unknown;
    try {
      planRotation(ring, recs);
    } catch (e) {
      err = e;
    }
    expect(isKeyringError(err, "integrity")).toBe(true);
    expect((err as Error).message).toMatch(/record #8/);
    expect((err as Error).message).not.toContain("org-7");
  });

  it("a record under a KEK nobody configured stops it with wrong_kek", () => {
    const ring = Keyring.create({ current: randomBytes(32), next: randomBytes(32) });
    const foreign = makeDb(Keyring.create({ current: randomBytes(32) }), 1);
    expect(() => planRotation(ring, records(foreign))).toThrow(
      expect.objectContaining({ code: "wrong_kek" }),
    );
  });

  it("a retired KEK is never a rotation target", () => {
    const old = randomBytes(32);
    const ring = Keyring.create({ current: randomBytes(32), retired: [old] });
    const oldKid = Keyring.create({ current: old }).current;
    expect(() => planRotation(ring, [], { to: oldKid })).toThrow(
      expect.objectContaining({ code: "invalid_request" }),
    );
  });
});

describe("restores accept retired KEKs kept for the backup window", () => {
  it("a backup from before the rotation opens with the old KEK retired, and a rotation to current makes it writable", () => {
    const oldKek = randomBytes(32);
    const newKek = randomBytes(32);
    const backup = makeDb(Keyring.create({ current: oldKek }));
    const ring = Keyring.create({ current: newKek, retired: [oldKek] });
    expect(opensWith(ring, backup)).toBe(true);
    expect(() => ring.sealingKid(backup.check)).toThrow(expect.objectContaining({ code: "wrong_kek" }));
    const plan = planRotation(ring, records(backup));
    expect(plan.target).toBe(ring.current);
    const restored = apply(backup, plan);
    expect(ring.sealingKid(restored.check)).toBe(ring.current);
    expect(opensWith(Keyring.create({ current: newKek }), restored)).toBe(true);
  });
});
