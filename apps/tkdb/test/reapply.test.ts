/**
 * Revocations survive a restore (issue 14 item 2): a node started on a database copy from before a
 * revocation puts the revocation back from its audit log before it serves (src/reapply.ts).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { base64Decode, dischargeTicket, Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cliActorOf, withCliAudit } from "../src/audit.js";
import { native } from "../src/crypto.js";
import { AUTH_LOCATION } from "../src/env.js";
import { runMutation } from "../src/mutate.js";
import { REAPPLY_OP } from "../src/reapply.js";
import { startTkdb, type TkdbHandle } from "../src/server.js";
import { DrizzleStore } from "../src/store.js";
import { TokenService } from "../src/tokens.js";
import { caller, type Fixture, fixture, randomNonceId, tempDir } from "./helpers.js";

const ORG = "7";
const orgCaveat = [{ type: "Organization", body: { id: 7, mask: "rwcdC" } }];
const DB_FILES = ["tkdb.db", "tkdb.db-wal", "tkdb.db-shm"];

let t: ReturnType<typeof tempDir>;
let fx: Fixture;
beforeEach(() => {
  t = tempDir();
  fx = fixture(t.dir);
});
afterEach(() => t.cleanup());

/** The database files as they are now (the node is stopped): what a backup restores. */
function backup(): string {
  const to = join(t.dir, "backup");
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to);
  for (const f of DB_FILES) if (existsSync(join(t.dir, f))) copyFileSync(join(t.dir, f), join(to, f));
  return to;
}

/** Puts the backup in place of the database (the audit folder stays: it is the node's own). */
function restore(from: string): void {
  for (const f of DB_FILES) {
    rmSync(join(t.dir, f), { force: true });
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(t.dir, f));
  }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NoiseRemoteError) return e.code;
    throw e;
  }
  return "ok";
}

function auditLines(dir = join(t.dir, "audit")): Record<string, unknown>[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith("audit-"))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * The log's lines once `ready` holds for them: an outcome is on disk a few ms after the reply
 * (written without waiting for its fdatasync), so a test polls for it, bounded, instead of sleeping.
 */
async function auditLinesWhen(
  ready: (lines: Record<string, unknown>[]) => boolean,
): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 15_000;
  let lines = auditLines();
  while (!ready(lines) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    lines = auditLines();
  }
  return lines;
}

/** A user token with its auth discharge, as Fly's login makes it. */
async function userHeader(c: ReturnType<typeof caller>): Promise<{ header: string; nonce: string }> {
  const { token, nonce } = await c.sign<{ token: string; nonce: string }>("mint", {
    org: ORG,
    caveats: orgCaveat,
  });
  const m = Macaroon.fromStringUnverified(token, { registry: flyRegistry });
  const ticket = m.add3P(fx.authKey, AUTH_LOCATION);
  const { discharge } = dischargeTicket(fx.authKey, AUTH_LOCATION, ticket, { registry: flyRegistry });
  const now = BigInt(Math.floor(Date.now() / 1000));
  discharge.add(new ValidityWindow(now - 10n, now + 300n));
  return { header: `FlyV1 ${m.toString()},${discharge.toString()}`, nonce };
}

async function start(): Promise<{ h: TkdbHandle; c: ReturnType<typeof caller> }> {
  const h = await startTkdb(fx.config);
  return { h, c: caller(h.url, h.publicKey, fx.signClient) };
}

describe("re-applying revocations from the audit log at start", () => {
  it("a node started on a copy from before a revoke refuses the revoked token and the service tokens made from it, before its first verify answers", async () => {
    let { h, c } = await start();
    await c.sign("org_create", { org: ORG });
    const user = await userHeader(c);
    const before = await c.sign<{ token: string }>("strip", { header: user.header });
    await h.close();
    const copy = backup();
    ({ h, c } = await start());
    // Made after the backup: the restored copy does not even know this service token.
    const after = await c.sign<{ token: string }>("strip", { header: user.header });
    const r = await c.sign<{ derived: string[] }>("revoke", { nonce: user.nonce });
    expect(r.derived).toHaveLength(2);
    expect(await code(c.verify("verify", { header: `FlyV1 ${after.token}` }))).toBe("revoked");
    await h.close();

    restore(copy);
    // The restored copy itself holds none of the revocations.
    const restored = new Database(fx.config.dbPath, { readonly: true });
    expect(restored.prepare("SELECT count(*) FROM blacklist").pluck().get()).toBe(0);
    restored.close();
    ({ h, c } = await start());
    try {
      // The first requests this node answers: every token of the lineage is refused.
      expect(await code(c.verify("verify", { header: `FlyV1 ${after.token}` }))).toBe("revoked");
      expect(await code(c.verify("verify", { header: `FlyV1 ${before.token}` }))).toBe("revoked");
      expect(await code(c.verify("verify", { header: user.header }))).toBe("revoked");
      const feed = await c.verify<{ nonces: string[] }>("revocations", {});
      expect(new Set(feed.nonces)).toEqual(new Set([user.nonce, ...r.derived]));
      const out = auditLines().filter((l) => l.op === REAPPLY_OP && l.kind === "outcome");
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({ outcome: "ok", actor: "system", count: 3 });
      expect(new Set(out[0]?.nonces as string[])).toEqual(new Set([user.nonce, ...r.derived]));
    } finally {
      await h.close();
    }
    // A plain restart re-applies nothing more: the blacklist already holds them.
    ({ h } = await start());
    await h.close();
    expect(auditLines().filter((l) => l.op === REAPPLY_OP && l.kind === "outcome")).toHaveLength(1);
  });

  it("a revocation whose required_until has passed (beyond the pruning margin) is not re-applied", async () => {
    let { h, c } = await start();
    await c.sign("org_create", { org: ORG });
    await h.close();
    const copy = backup();
    ({ h, c } = await start());
    const expired = randomNonceId();
    const live = randomNonceId();
    const nowS = Math.floor(Date.now() / 1000);
    h.service.store.insertToken({
      nonce: base64Decode(expired),
      org: ORG,
      kind: "mint",
      parent: null,
      mintCaveats: 0,
      expires: nowS - 3 * 24 * 3600,
      created: nowS - 4 * 24 * 3600,
    });
    await c.sign("revoke", { nonce: expired });
    await c.sign("revoke", { nonce: live });
    const revokeOutcomes = (ls: Record<string, unknown>[]) =>
      ls.filter((l) => l.op === "revoke" && l.kind === "outcome");
    const logged = revokeOutcomes(await auditLinesWhen((ls) => revokeOutcomes(ls).length >= 2));
    expect(logged.map((l) => l.required_until)).toEqual([[nowS - 3 * 24 * 3600], [0]]);
    await h.close();

    restore(copy);
    ({ h, c } = await start());
    try {
      const feed = await c.verify<{ nonces: string[] }>("revocations", {});
      expect(feed.nonces).toEqual([live]);
      expect(h.service.store.anyRevoked([base64Decode(expired)])).toBe(false);
      const out = auditLines().filter((l) => l.op === REAPPLY_OP && l.kind === "outcome");
      expect(out).toMatchObject([{ count: 1, nonces: [live], required_until: [0] }]);
    } finally {
      await h.close();
    }
  });

  it("a revoke line from before the nonces field is re-applied with the mint record's expiry: kept if unknown, skipped if long past", async () => {
    let { h, c } = await start();
    await c.sign("org_create", { org: ORG });
    const expired = randomNonceId();
    const nowS = Math.floor(Date.now() / 1000);
    h.service.store.insertToken({
      nonce: base64Decode(expired),
      org: ORG,
      kind: "mint",
      parent: null,
      mintCaveats: 0,
      expires: nowS - 3 * 24 * 3600,
      created: nowS - 4 * 24 * 3600,
    });
    await h.close();
    const unknown = randomNonceId();
    const store = new DrizzleStore(fx.config.dbPath, native);
    try {
      // Lines as the log wrote them before `nonces`: the revoked nonce only.
      await withCliAudit(fx.config, store, async (audit) => {
        for (const nonce of [expired, unknown]) {
          const { seq } = await audit.intent("revoke", "system");
          await audit.outcome(seq, "revoke", "system", { ids: { nonce, count: 0 } });
        }
      });
    } finally {
      store.close();
    }
    ({ h, c } = await start());
    try {
      expect((await c.verify<{ nonces: string[] }>("revocations", {})).nonces).toEqual([unknown]);
    } finally {
      await h.close();
    }
  });

  it("a tampered audit log stops the start with a clear error instead of serving without the re-apply", async () => {
    let { h, c } = await start();
    await c.sign("org_create", { org: ORG });
    await h.close();
    const copy = backup();
    ({ h, c } = await start());
    const nonce = randomNonceId();
    await c.sign("revoke", { nonce });
    await c.sign("org_create", { org: "8" });
    await h.close();
    // Someone removes the revocation from the log: the revoke outcome now names another nonce.
    const dir = join(t.dir, "audit");
    const seg = readdirSync(dir)
      .filter((f) => f.startsWith("audit-"))
      .sort()[0] as string;
    const text = readFileSync(join(dir, seg), "utf8");
    expect(text).toContain(nonce);
    writeFileSync(join(dir, seg), text.replaceAll(nonce, randomNonceId()));
    restore(copy);
    const err = await startTkdb(fx.config).then(
      async (started) => {
        await started.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toMatch(/^(integrity|corrupt)$/);
    expect((err as Error).message).toMatch(/audit log .* does not verify/);
  });

  it("a revocation made by the local CLI (its own log) is re-applied too; a tampered CLI log stops the start", async () => {
    let { h, c } = await start();
    await c.sign("org_create", { org: ORG });
    await h.close();
    const copy = backup();
    const nonce = randomNonceId();
    // What `tkdb token revoke <nonce>` does locally (cli/shared.ts admin): the CLI's own log.
    const store = new DrizzleStore(fx.config.dbPath, native);
    try {
      const svc = new TokenService(store, fx.config, native);
      await withCliAudit(fx.config, store, (audit) =>
        runMutation({ store, audit, op: "revoke", actor: cliActorOf("root"), now: Date.now() }, () =>
          svc.revoke({ nonce }),
        ),
      );
    } finally {
      store.close();
    }
    restore(copy);
    ({ h, c } = await start());
    try {
      expect((await c.verify<{ nonces: string[] }>("revocations", {})).nonces).toEqual([nonce]);
    } finally {
      await h.close();
    }
    // The CLI log is not the one the server opens: only the start's own verify sees an edit in it.
    const cliDir = join(t.dir, "audit", "cli");
    const seg = readdirSync(cliDir).find((f) => f.startsWith("audit-")) as string;
    const text = readFileSync(join(cliDir, seg), "utf8");
    writeFileSync(join(cliDir, seg), text.replaceAll(nonce, randomNonceId()));
    restore(copy);
    const err = await startTkdb(fx.config).then(
      async (started) => {
        await started.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain(`the audit log in ${cliDir} does not verify (hash_mismatch`);
    expect((err as Error).message).toContain("tkdb audit verify");
  });
});
