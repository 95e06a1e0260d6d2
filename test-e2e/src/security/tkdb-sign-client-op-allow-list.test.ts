/**
 * Property: each signing client may call only the ops its TKDB_SIGN_CLIENTS entry names
 * (`<key>:<op>+<op>`); any other op is `forbidden` and has no effect. One test per op. An entry
 * without ops (the old form) still may call every op, and tkdb warns about it at start.
 * (The original let every listed key create orgs, mint, revoke and strip.)
 */
import { Nonce } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hex, key32, x25519 } from "../harness.js";
import { type KeyPair, login, type Rig, refusal, startRig } from "./tkdb-fixture.js";

const ORG = 5001n;
const ops = ["org_create", "mint", "revoke", "strip"] as const;
type Op = (typeof ops)[number];
const only: Record<Op, KeyPair> = {
  org_create: x25519(),
  mint: x25519(),
  revoke: x25519(),
  strip: x25519(),
};
const legacy = x25519();
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("sign-op-allow-list", {
    signClients: [...ops.map((op) => `${hex(only[op].publicKey)}:${op}`), hex(legacy.publicKey)],
  });
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

const freshNonce = () => Buffer.from(Nonce.create(key32().slice(0, 16), false).encode()).toString("base64");

/** Calls `op` as `key` with valid arguments. */
async function call(op: Op, key: KeyPair): Promise<unknown> {
  const c = rig.clientFor(key);
  switch (op) {
    case "org_create":
      return c.orgCreate(ORG + 1000n + BigInt(Math.floor(Math.random() * 1e6)));
    case "mint":
      return c.mint(ORG, []);
    case "revoke":
      return c.revoke({ nonce: freshNonce() });
    case "strip":
      return c.strip((await login(rig, ORG, { userId: 1n })).header);
  }
}

describe("per-op signing allow-list", () => {
  for (const op of ops) {
    it(`only a client listed for ${op} may call ${op}; every other listed client gets forbidden`, async () => {
      await expect(call(op, only[op])).resolves.toBeDefined();
      for (const other of ops.filter((o) => o !== op)) {
        const r = await refusal(call(op, only[other]));
        expect(r.code).toBe("forbidden");
        expect(r.message).toContain(op);
      }
    });
  }

  it("an entry without ops (the old form) may call every op, and tkdb warns about it at start", async () => {
    for (const op of ops) await expect(call(op, legacy)).resolves.toBeDefined();
    expect(rig.tkdb.output()).toMatch(/signing client listed without ops/);
  });

  it("a refused op changes nothing: a revoke by a mint-only client leaves the nonce out of the feed", async () => {
    const before = await rig.verifier.revocations(undefined, 5000);
    const m = await rig.clientFor(only.mint).mint(ORG, []);
    expect((await refusal(rig.clientFor(only.mint).revoke({ nonce: m.nonce }))).code).toBe("forbidden");
    expect((await rig.verifier.revocations(before.cursor, 5000)).nonces).not.toContain(m.nonce);
  });
});
