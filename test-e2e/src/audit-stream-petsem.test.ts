/**
 * Issue 14 for petsem, through the wire API only (tkdb and petsem as processes, @tkdb/client):
 * - item 1: every secret and token operation, refusals included, goes to the node's append-only
 *   hash-chained audit log (PETSEM_AUDIT_DIR, default <data dir>/audit; the CLI's in its `cli/`):
 *   set, unset, rollback and resolve as a durable intent and outcome, list and refusals as an
 *   event. Nothing in it is a value, token, discharge, header or key. `petsem audit verify` checks
 *   it and `petsem audit export --ship` posts it to a `_bulk` endpoint (a small fake on loopback:
 *   OpenSearch itself cannot be installed here).
 * - item 2: app versions carry an epoch that `petsem backup restore` renews, so after restoring a
 *   backup made before a write and writing again, the reissued version number is told apart from
 *   the lost one, and a resolve asking for the lost (epoch, version) is refused with `stale`.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PetsemClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeBulk } from "./fake-bulk.js";
import { loginUser, one, resolveForBoot, TKDB_LOCATION, writerFor } from "./flow.js";
import { cli, hex, type RunningService, startService, tempDir } from "./harness.js";
import { type Stack, startStack } from "./reliability/stack.js";

const ORG = 7717n;
const APP = 9n;
const USER = 626262n;
const VALUE = "postgres://audit-marker-5e1f9c@db/x";

let stack: Stack;
const replica = tempDir("petsem-e2e-replica");
const restoredDir = tempDir("petsem-e2e-restored");
let restored: RunningService | undefined;

beforeAll(async () => {
  stack = await startStack("e2e-audit-petsem", {
    petsem: {
      PETSEM_LITESTREAM_REPLICA: `file://${replica.path}`,
      PETSEM_LITESTREAM_SYNC_INTERVAL: "100ms",
    },
  });
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await restored?.stop();
  await stack?.stop();
  replica.remove();
  restoredDir.remove();
});

const auditDir = () => join(stack.petsemEnv.PETSEM_DATA_DIR as string, "audit");

type Line = Record<string, unknown> & { seq: number; kind: string; op: string };

function logLines(dir: string): Line[] {
  return readdirSync(dir)
    .filter((f) => /^audit-\d{12}\.jsonl$/.test(f))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.parse(l) as Line);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("petsem's audit trail is the node's append-only file log", () => {
  it("every secret and token operation, refusals included, is in the log; nothing in it is a value, token, discharge or key; verify and export --ship read it", async () => {
    const a = stack.actors;
    const writer = writerFor(a, ORG, APP);
    const user = await loginUser(a, ORG, USER);
    const w1 = await a.secrets.set(writer, ORG, APP, { DATABASE_URL: VALUE, OTHER: "other-value-1" });
    await a.secrets.unset(writer, ORG, APP, ["OTHER"]);
    await a.secrets.rollback(writer, ORG, APP, "OTHER", 1);
    await a.secrets.list(writer, ORG, APP);
    const seen = await resolveForBoot(a, user.header, ORG, APP, w1.app_version);
    expect(seen.DATABASE_URL).toBe(VALUE);
    // Refusals: a stale expectation, a writer confined to another app, a reader without its
    // discharge, a header that is no token.
    await expect(
      a.secrets.set(writer, ORG, APP, { DATABASE_URL: "refused-value-7" }, { expectedAppVersion: 99 }),
    ).rejects.toMatchObject({ code: "cas_mismatch" });
    await expect(
      a.secrets.set(writerFor(a, ORG, APP + 1n), ORG, APP, { X: "refused-value-8" }),
    ).rejects.toMatchObject({ code: "forbidden" });
    await expect(a.secrets.resolve(encodeAuthorizationHeader([a.reader]), ORG, APP, 0)).rejects.toMatchObject(
      { code: "unauthorized" },
    );
    await expect(a.secrets.list("FlyV1 fm2_not-a-token", ORG, APP)).rejects.toMatchObject({
      code: "unauthorized",
    });

    // A clean stop writes the buffered events and a final checkpoint.
    await stack.petsem.stop();
    const lines = logLines(auditDir());
    const actor = (l: Line) => String(l.actor);
    const durable = (op: string) => {
      const intents = lines.filter((l) => l.op === op && l.kind === "intent");
      const outcomes = lines.filter((l) => l.op === op && l.kind === "outcome");
      return { intents, outcomes };
    };
    for (const op of ["set", "unset", "rollback", "resolve"]) {
      const { intents, outcomes } = durable(op);
      expect(intents.length, op).toBeGreaterThan(0);
      expect(outcomes.filter((o) => o.outcome === "ok").length, op).toBeGreaterThan(0);
      for (const i of intents) {
        expect(
          outcomes.some((o) => o.intent_seq === i.seq),
          `${op} ${i.seq}`,
        ).toBe(true);
        expect(actor(i)).toMatch(/^noise:[A-Za-z0-9_-]{43}$/);
      }
    }
    expect(durable("set").intents[0]).toMatchObject({
      org: ORG.toString(),
      app: APP.toString(),
      names: ["DATABASE_URL", "OTHER"],
      tail_sha256_prefix: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(durable("set").outcomes.map((o) => [o.outcome, o.code ?? null])).toEqual([
      ["ok", null],
      ["refused", "cas_mismatch"],
    ]);
    // resolve names the user tkdb's discharge states and the discharge by its hashed nonce
    expect(durable("resolve").intents[0]).toMatchObject({
      user: USER.toString(),
      parent_nonce: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    const events = lines.filter((l) => l.kind === "event");
    expect(events.filter((e) => e.op === "list").map((e) => [e.outcome, e.code ?? null])).toEqual([
      ["ok", null],
      ["refused", "unauthorized"],
    ]);
    expect(events.filter((e) => e.op === "set").map((e) => e.code)).toEqual(["forbidden"]);
    expect(events.filter((e) => e.op === "resolve").map((e) => e.code)).toEqual(["unauthorized"]);
    // The CLI's token mints (the stack's writer and reader) are in the CLI's own log.
    const mints = logLines(join(auditDir(), "cli")).filter((l) => l.op === "mint");
    expect(mints.map((l) => [l.kind, l.outcome ?? null, l.subject])).toEqual([
      ["intent", null, "writer"],
      ["outcome", "ok", "writer"],
      ["intent", null, "reader"],
      ["outcome", "ok", "reader"],
    ]);

    // No material: values (accepted or refused), tokens, headers, tails and keys.
    const k = stack.keys;
    const material = [
      VALUE,
      "other-value-1",
      "refused-value-7",
      "refused-value-8",
      a.writer,
      writer.replace(/^FlyV1 /, ""),
      user.header.replace(/^FlyV1 /, ""),
      hex(a.reader.unsafeTail()),
      Buffer.from(a.reader.unsafeTail()).toString("base64"),
      k.petsemKek,
      hex(k.petsemNoise.secretKey),
      hex(k.petsemShared),
      Buffer.from(k.petsemShared).toString("base64"),
    ];
    const text = [auditDir(), join(auditDir(), "cli")]
      .flatMap((d) =>
        readdirSync(d)
          .filter((f) => f.endsWith(".jsonl"))
          .map((f) => join(d, f)),
      )
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    for (const m of material) expect(text.includes(m), m.slice(0, 12)).toBe(false);
    expect(text).not.toContain("fm2_");
    expect(text).not.toContain("FlyV1");

    const verified = await cli("petsem", ["audit", "verify", "--json"], stack.petsemEnv);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
    const exported = await cli("petsem", ["audit", "export"], stack.petsemEnv);
    expect(exported.code, exported.stderr).toBe(0);
    const docs = exported.stdout.trim().split("\n").length / 2;
    const bulk = await fakeBulk();
    try {
      const shipped = await cli(
        "petsem",
        ["audit", "export", "--ship", `${bulk.url}/_bulk`],
        stack.petsemEnv,
      );
      expect(shipped.code, shipped.stderr).toBe(0);
      expect(bulk.ids.size).toBe(docs);
      expect([...bulk.indices].every((i) => /^petsem-audit-\d{4}\.\d{2}\.\d{2}$/.test(i))).toBe(true);
      const again = await cli("petsem", ["audit", "export", "--ship", bulk.url], stack.petsemEnv);
      expect(again.code, again.stderr).toBe(0);
      expect(bulk.ids.size).toBe(docs);
    } finally {
      await bulk.close();
    }
  }, 300_000);

  it("after restoring a backup made before a write and writing again, the reissued version has another epoch and the lost (epoch, version) is refused with stale", async () => {
    await stack.restart("petsem");
    const a = stack.actors;
    const writer = writerFor(a, ORG, APP + 1n);
    const user = await loginUser(a, ORG, USER);
    const kept = await a.secrets.set(writer, ORG, APP + 1n, { DATABASE_URL: "epoch-kept" });
    await sleep(1500);
    const T = new Date().toISOString();
    await sleep(1500);
    const lost = await a.secrets.set(writer, ORG, APP + 1n, { DATABASE_URL: "epoch-lost" });
    await sleep(1500);
    await stack.petsem.stop();

    const dataDir = join(restoredDir.path, "petsem");
    const r = await cli(
      "petsem",
      ["backup", "restore", "--timestamp", T, "--output", join(dataDir, "petsem.db")],
      stack.petsemEnv,
    );
    expect(r.code, r.stderr).toBe(0);
    const env: Record<string, string> = { ...stack.petsemEnv, PETSEM_DATA_DIR: dataDir };
    delete env.PETSEM_LITESTREAM_REPLICA;
    restored = await startService("petsem", env);
    const secrets = new PetsemClient({
      endpoints: [{ url: restored.url, serverPublicKey: restored.publicKey }],
    });
    const again = await secrets.set(writer, ORG, APP + 1n, { DATABASE_URL: "epoch-new" });
    expect(again.app_version).toBe(lost.app_version);
    expect(typeof again.epoch).toBe("string");
    expect(again.epoch).not.toBe(lost.epoch);
    expect(kept.epoch).toBe(lost.epoch);

    const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
    if (!ticket) throw new Error("reader token has no tkdb caveat");
    const header = async () =>
      encodeAuthorizationHeader([
        a.reader,
        one(await a.flyd.discharge({ ticket, userHeader: user.header, org: ORG, app: APP + 1n })),
      ]);
    const minLost = lost.app_version;
    await expect(
      secrets.resolve(await header(), ORG, APP + 1n, minLost, undefined, lost.epoch as string),
    ).rejects.toMatchObject({ code: "stale" });
    const now = await secrets.resolve(
      await header(),
      ORG,
      APP + 1n,
      minLost,
      undefined,
      again.epoch as string,
    );
    expect(now.secrets[0]?.value).toBe("epoch-new");
    expect(now.epoch).toBe(again.epoch);
    // A version the restore kept still counts from the old epoch.
    const old = await secrets.resolve(
      await header(),
      ORG,
      APP + 1n,
      kept.app_version,
      undefined,
      kept.epoch as string,
    );
    expect(old.secrets[0]?.value).toBe("epoch-new");
  }, 300_000);
});
