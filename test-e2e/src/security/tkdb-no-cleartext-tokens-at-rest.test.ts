/**
 * Property: tkdb keeps no token at rest in the clear. After a workload of org_create, mint, strip,
 * discharge and revoke (duplicate requests included), no returned or presented token appears in
 * tkdb's database, WAL, Litestream replica, audit export or process output: not as its string, its
 * base64 body, its raw decoded bytes, nor its 32-byte tail (raw, hex or base64). (The original kept
 * every result, minted and stripped tokens and discharges, in the replay table for 24 h.)
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { noiseCall } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../harness.js";
import { login, one, type Rig, readerTicket, startRig } from "./tkdb-fixture.js";

const ORG = 5101n;
let rig: Rig;
let root = "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  rig = await startRig("no-cleartext", {
    prepare: (dir, dataDir) => {
      root = dir;
      mkdirSync(dataDir, { recursive: true });
      const config = join(dir, "litestream.yml");
      writeFileSync(
        config,
        `dbs:\n  - path: ${join(dataDir, "tkdb.db")}\n    replicas:\n      - url: file://${join(dir, "replica")}\n        sync-interval: 100ms\n`,
      );
      return { TKDB_LITESTREAM_CONFIG: config };
    },
  });
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

function files(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

/** Every form of a token that must not be found. */
function markers(token: string): Buffer[] {
  const body = token.slice(token.indexOf("_") + 1);
  const raw = Buffer.from(body, "base64");
  const tail = Buffer.from(one(token).unsafeTail());
  return [
    Buffer.from(token),
    Buffer.from(body),
    raw,
    tail,
    Buffer.from(tail.toString("hex")),
    Buffer.from(tail.toString("base64")),
    Buffer.from(tail.toString("base64url")),
  ];
}

describe("no cleartext tokens at rest", () => {
  it("no minted, stripped, presented or discharged token is found in the database, WAL, replica, audit export or output", async () => {
    const tokens: string[] = [];
    const { ticket } = readerTicket(rig);
    await rig.admin.orgCreate(ORG);
    for (let i = 0; i < 3; i++) {
      const m = await rig.admin.mint(ORG, [
        { type: "Organization", body: { id: Number(ORG), mask: "rwcdC" } },
      ]);
      tokens.push(m.token);
      const u = await login(rig, ORG, { userId: BigInt(100 + i) });
      tokens.push(u.permission.toString(), u.discharge.toString());
      const s = await rig.admin.strip(u.header);
      tokens.push(s.token);
      tokens.push(await rig.verifier.discharge({ ticket, userHeader: u.header, org: ORG, app: 1 }));
      tokens.push(await rig.verifier.discharge({ ticket, userHeader: `FlyV1 ${s.token}`, org: ORG, app: 1 }));
      await rig.admin.revoke({ token: m.token });
    }
    // A duplicate mint and strip (same rid): the stored answer comes back, and is a token too.
    const rid = randomBytes(16).toString("base64url");
    const dupMint = () =>
      noiseCall<{ token: string }>({
        url: rig.tkdb.url,
        api: "sign",
        op: "mint",
        args: { org: String(ORG), caveats: [] },
        pattern: "KK",
        serverPublicKey: rig.tkdb.publicKey,
        clientStaticKey: rig.signer,
        rid,
      });
    const d1 = await dupMint();
    const d2 = await dupMint();
    expect(d2.token).toBe(d1.token);
    tokens.push(d1.token);

    await sleep(1500); // let Litestream ship the WAL
    const audit = await cli("tkdb", ["audit", "export"], rig.env);
    expect(audit.code, audit.stderr).toBe(0);
    await rig.tkdb.stop(); // final Litestream sync, WAL checkpoint on close

    const haystacks: [string, Buffer][] = [
      ["output", Buffer.from(rig.tkdb.output())],
      ["audit export", Buffer.from(audit.stdout + audit.stderr)],
      ...files(root)
        .filter((f) => !f.endsWith("litestream.yml"))
        .map((f): [string, Buffer] => [f, readFileSync(f)]),
    ];
    expect(haystacks.some(([f]) => f.includes("replica"))).toBe(true);
    expect(haystacks.some(([f]) => f.endsWith("tkdb.db"))).toBe(true);
    const found: string[] = [];
    for (const t of tokens)
      for (const [i, m] of markers(t).entries())
        for (const [name, hay] of haystacks)
          if (hay.includes(m)) found.push(`${name}: marker ${i} of ${t.slice(0, 8)}…`);
    expect(found).toEqual([]);
  });
});
