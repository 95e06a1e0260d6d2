/**
 * Issue 14 item 1 for tkdb, through the wire API only (tkdb and petsem as processes, @tkdb/client):
 * every token operation, refusals included, goes to the node's append-only hash-chained audit log
 * (TKDB_AUDIT_DIR, default <data dir>/audit), never to the database: 200 discharges leave the
 * database file and its WAL byte for byte unchanged. The log holds identities, nonces, ops and
 * outcomes, never a token, discharge, header or key; `tkdb audit verify` checks it and
 * `tkdb audit export --ship` posts it to a `_bulk` endpoint (a small fake on loopback: OpenSearch
 * itself cannot be installed here).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { base64Encode, type Macaroon } from "@tkdb/macaroon";
import { parse as parseToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { fakeBulk } from "./fake-bulk.js";
import { loginUser, one, TKDB_LOCATION } from "./flow.js";
import { cli, hex, ROOT } from "./harness.js";
import { type Stack, startStack } from "./reliability/stack.js";

const ORG = 7707n;
const APP = 8n;
const USER = 515151n;

let stack: Stack;
/** Every token and discharge string the test saw: none may be in the log. */
const material: string[] = [];
const tails: Macaroon[] = [];

beforeAll(async () => {
  // A heartbeat a minute at most (replication.ts): the database then changes only when asked to.
  stack = await startStack("e2e-audit-tkdb", {
    tkdb: { TKDB_HEARTBEAT_MS: "60000", TKDB_STALE_AFTER_MS: "600000" },
  });
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const dataDir = () => stack.tkdbEnv.TKDB_DATA_DIR as string;
const auditDir = () => join(dataDir(), "audit");

/** The database file and its WAL: total bytes and a digest of their contents. */
function dbState(): { bytes: number; digest: string } {
  const h = createHash("sha256");
  let bytes = 0;
  for (const f of ["tkdb.db", "tkdb.db-wal"]) {
    const b = existsSync(join(dataDir(), f)) ? readFileSync(join(dataDir(), f)) : Buffer.alloc(0);
    bytes += b.length;
    h.update(`${f}:${b.length}:`).update(b);
  }
  return { bytes, digest: h.digest("hex") };
}

/** The primary's last heartbeat as `health` reports it (replication.ts), or null without one. */
async function heartbeat(): Promise<unknown> {
  const h = (await stack.actors.flyd.health()) as { replication?: { heartbeat_ms?: unknown } };
  return h.replication?.heartbeat_ms ?? null;
}

interface Line extends Record<string, unknown> {
  seq: number;
  kind: string;
  op: string;
}

function logLines(dir = auditDir()): Line[] {
  return readdirSync(dir)
    .filter((f) => /^audit-\d{12}\.jsonl$/.test(f))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.parse(l) as Line);
}

async function discharge(header: string, org = ORG): Promise<string> {
  const a = stack.actors;
  const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("reader token has no tkdb caveat");
  return a.flyd.discharge({ ticket, userHeader: header, org, app: APP });
}

describe("tkdb's audit trail is the node's append-only file log", () => {
  it("200 discharges through the wire API leave tkdb's database and WAL byte for byte unchanged; each is a durable intent and an outcome in the log", async () => {
    const user = await loginUser(stack.actors, ORG, USER);
    material.push(user.header);
    await discharge(user.header); // sessions open, nothing else warms up in the database
    const lines0 = logLines().length;
    let before = dbState();
    let after = before;
    // A heartbeat inside the window would be the one legitimate write: measure again then.
    for (let attempt = 0; attempt < 3; attempt++) {
      const hb = await heartbeat();
      before = dbState();
      for (let i = 0; i < 200; i += 8) {
        const batch = await Promise.all(Array.from({ length: 8 }, () => discharge(user.header)));
        if (i === 0) material.push(...batch);
      }
      after = dbState();
      if (JSON.stringify(await heartbeat()) === JSON.stringify(hb)) break;
    }
    console.log(`tkdb db+wal bytes around 200 discharges: before ${before.bytes}, after ${after.bytes}`);
    expect(after).toEqual(before);
    // An outcome reaches the disk a few ms after its reply (issue 17): poll, bounded, until every
    // intent's outcome is there rather than sleeping.
    const dischargeLines = () =>
      logLines()
        .slice(lines0)
        .filter((l) => l.op === "discharge");
    // (The warm-up discharge's outcome may land after lines0: only this window's intents count.)
    const closed = (ls: Line[]) => {
      const intents = new Set(ls.filter((l) => l.kind === "intent").map((l) => l.seq));
      return ls.filter((l) => l.kind === "outcome" && intents.has(l.intent_seq as number));
    };
    let added = dischargeLines();
    for (let deadline = Date.now() + 30_000; Date.now() < deadline; added = dischargeLines()) {
      const intents = added.filter((l) => l.kind === "intent").length;
      if (intents >= 200 && closed(added).length === intents) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(added.filter((l) => l.kind === "intent").length).toBeGreaterThanOrEqual(200);
    const outcomes = closed(added);
    expect(outcomes.length).toBe(added.filter((l) => l.kind === "intent").length);
    expect(outcomes.every((l) => l.outcome === "ok")).toBe(true);
    // Named by the (hashed) discharge nonce and the user token's nonce, with the user id.
    expect(added[0]).toMatchObject({
      org: ORG.toString(),
      app: APP.toString(),
      user: USER.toString(),
      subject: "user",
      nonce: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      parent_nonce: base64Encode(user.permission.nonce.encode()),
    });
  }, 300_000);

  it("every token operation, refusals included, is in the log with its actor and outcome; feed polls are counted; nothing in it is a token, discharge, header or key; verify and export --ship read it", async () => {
    const a = stack.actors;
    const user = await loginUser(a, ORG, USER);
    const service = await a.admin.strip(user.header);
    const minted = await a.admin.mint(ORG, []);
    material.push(user.header, service.token, minted.token, await discharge(user.header));
    tails.push(one(user.header), one(service.token), one(minted.token));
    await a.flyd.verify(`FlyV1 ${minted.token}`);
    await a.admin.revoke({ nonce: minted.nonce });
    await a.flyd.revocations(undefined);
    await a.flyd.revocations(undefined);
    // Refusals: a revoked token, a header that is no token, an unknown org, a discharge for another org.
    await expect(a.flyd.verify(`FlyV1 ${minted.token}`)).rejects.toMatchObject({ code: "revoked" });
    await expect(a.flyd.verify("FlyV1 fm2_not-a-token")).rejects.toBeDefined();
    await expect(a.admin.mint(999_999n, [])).rejects.toMatchObject({
      code: "not_found",
      alias: "unknown_org",
    });
    await expect(discharge(user.header, ORG + 1n)).rejects.toBeDefined();

    // A clean stop writes the counters and a final checkpoint.
    await stack.tkdb.stop();
    const lines = logLines();
    const signer = `noise:${Buffer.from(stack.keys.signer.publicKey).toString("base64url")}`;
    const outcome = (op: string, o: string) =>
      lines.filter((l) => l.op === op && (l.kind === "outcome" || l.kind === "event") && l.outcome === o);
    for (const op of ["org_create", "mint", "strip", "revoke"]) {
      expect(
        lines.some((l) => l.op === op && l.kind === "intent" && l.actor === signer),
        op,
      ).toBe(true);
      expect(outcome(op, "ok").length, op).toBeGreaterThan(0);
    }
    expect(outcome("discharge", "ok").length).toBeGreaterThan(200);
    expect(outcome("verify", "ok")).toHaveLength(1);
    expect(outcome("verify", "refused").map((l) => l.code)).toEqual(expect.arrayContaining(["revoked"]));
    expect(outcome("verify", "refused")).toHaveLength(2);
    expect(outcome("mint", "refused").map((l) => l.code)).toEqual(["not_found"]);
    expect(outcome("discharge", "refused")).toHaveLength(1);
    expect(lines.find((l) => l.op === "strip" && l.kind === "outcome")).toMatchObject({
      org: ORG.toString(),
      parent_nonce: base64Encode(user.permission.nonce.encode()),
    });
    const polls = lines.filter((l) => l.kind === "counter" && l.op === "revocations");
    expect(polls.reduce((n, l) => n + (l.count as number), 0)).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.kind === "event" && l.op === "revocations")).toBe(false);

    // No material: tokens, discharges, headers, their tails, and the service's keys.
    const k = stack.keys;
    const secrets = [
      ...material,
      ...material.map((m) => m.replace(/^FlyV1 /, "")),
      ...tails.map((m) => hex(m.unsafeTail())),
      ...tails.map((m) => Buffer.from(m.unsafeTail()).toString("base64")),
      k.tkdbKek,
      hex(k.tkdbNoise.secretKey),
      hex(k.petsemShared),
      hex(k.auth),
      Buffer.from(k.petsemShared).toString("base64"),
    ];
    const files = readdirSync(auditDir()).filter((f) => f.endsWith(".jsonl"));
    const text = files.map((f) => readFileSync(join(auditDir(), f), "utf8")).join("\n");
    for (const s of secrets) expect(text.includes(s)).toBe(false);
    expect(text).not.toContain("fm2_");
    expect(text).not.toContain("FlyV1");

    const verified = await cli("tkdb", ["audit", "verify"], stack.tkdbEnv);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });

    const exported = await cli("tkdb", ["audit", "export"], stack.tkdbEnv);
    expect(exported.code, exported.stderr).toBe(0);
    const docs = exported.stdout.trim().split("\n").length / 2;
    const bulk = await fakeBulk();
    try {
      const shipped = await cli("tkdb", ["audit", "export", "--ship", `${bulk.url}/_bulk`], stack.tkdbEnv);
      expect(shipped.code, shipped.stderr).toBe(0);
      expect(bulk.ids.size).toBe(docs);
      expect([...bulk.indices].every((i) => /^tkdb-audit-\d{4}\.\d{2}\.\d{2}$/.test(i))).toBe(true);
      const again = await cli("tkdb", ["audit", "export", "--ship", bulk.url], stack.tkdbEnv);
      expect(again.code, again.stderr).toBe(0);
      expect(
        again.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      ).toContainEqual(expect.objectContaining({ created: 0 }));
      expect(bulk.ids.size).toBe(docs);
    } finally {
      await bulk.close();
    }
  }, 300_000);
});

describe("where tkdb's log lives on Fly", () => {
  it("fly.toml sets TKDB_AUDIT_DIR to infra/audit's tkdb folder: on the volume, outside the LiteFS mount", () => {
    const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
    const fly = parseToml(read("infra/tkdb/fly.toml")) as {
      env: Record<string, string>;
      mounts: { destination: string };
    };
    const dir = fly.env.TKDB_AUDIT_DIR as string;
    const row = /^\| tkdb \| (\/\S+) \|/m.exec(read("infra/audit/README.md"));
    expect(dir).toBe(row?.[1]);
    expect(dir.startsWith(`${fly.mounts.destination}/`)).toBe(true);
    const fuse = (parseYaml(read("infra/tkdb/litefs.yml")) as { fuse: { dir: string } }).fuse.dir;
    expect(dir.startsWith(`${fuse}/`)).toBe(false);
    expect(fly.env.TKDB_DATA_DIR).toBe(fuse); // so the default <data dir>/audit would be wrong there
  });
});
