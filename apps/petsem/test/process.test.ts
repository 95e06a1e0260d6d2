import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PetsemAudit } from "../src/audit-log.js";
import { SecretStore } from "../src/store.js";
import { auditLines } from "./audit-lines.js";
import { APP, freshStore, newKek, ORG, tempDir } from "./helpers.js";

const WORKER = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url));

interface Child {
  proc: ChildProcess;
  lines: string[];
  waitFor(line: string | ((l: string) => boolean)): Promise<string>;
  exited: Promise<number | null>;
}

function startWorker(args: Record<string, unknown>): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(args)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (l) => {
    lines.push(l);
    for (const w of [...waiters]) {
      if (w.match(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise<number | null>((res) => proc.on("exit", (code) => res(code)));
  return {
    proc,
    lines,
    exited,
    waitFor(line) {
      const match = typeof line === "string" ? (l: string) => l === line : line;
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        exited.then(() => reject(new Error(`worker exited before ${String(line)}: ${lines.join("|")}`)));
      });
    },
  };
}

describe("crash safety and concurrency (child processes)", () => {
  it.each([
    ["after the first version row", "crash-mid-batch", 0],
    ["after the fifth version row", "crash-mid-batch", 4],
    ["just before commit", "crash-before-commit", undefined],
  ])(
    "P23: kill -9 %s leaves all-or-nothing after restart, with the audit intact",
    async (_label, mode, stopAt) => {
      const { store, file, kek } = freshStore("native");
      store.set({ org: ORG, app: APP, values: { BEFORE: "b" } });
      const before = store.list({ org: ORG, app: APP });
      const child = startWorker({
        file,
        kek: Buffer.from(kek).toString("hex"),
        backend: "native",
        mode,
        stopAt,
      });
      await child.waitFor("FROZEN");
      child.proc.kill("SIGKILL");
      await child.exited;
      store.close();
      // restart: a new process-level open of the same file
      const after = SecretStore.open({ file, kek, backend: "native" });
      try {
        expect(after.list({ org: ORG, app: APP })).toEqual(before);
        expect(after.resolve({ org: ORG, app: APP, minVersion: 1 }).secrets.map((s) => s.name)).toEqual([
          "BEFORE",
        ]);
        // the restart reconciles the crashed write's intent: its transaction never committed
        const audit = await PetsemAudit.open({ dir: `${file}-audit`, node: "worker", timers: false });
        try {
          expect(await audit.reconcile(after)).toBe(1);
          // the store keeps working after the crash, through the audit
          const r = await audit.wrapStore(after).set({ org: ORG, app: APP, values: { K0: "again" } });
          expect(r.app_version).toBe(2);
        } finally {
          await audit.close();
        }
        const sets = auditLines(`${file}-audit`).filter((l) => l.op === "set");
        expect(sets.map((l) => [l.kind, l.outcome ?? null, l.reconciled ?? false])).toEqual([
          ["intent", null, false],
          ["outcome", "aborted", true],
          ["intent", null, false],
          ["outcome", "ok", false],
        ]);
      } finally {
        after.close();
      }
    },
  );

  it("P23: a write that committed before the kill is fully there after restart", async () => {
    const { store, file, kek } = freshStore("native");
    store.close();
    const child = startWorker({
      file,
      kek: Buffer.from(kek).toString("hex"),
      backend: "native",
      mode: "crash-mid-batch",
      stopAt: 99,
      count: 10,
    });
    await child.waitFor("COMMITTED");
    child.proc.kill("SIGKILL");
    await child.exited;
    const after = SecretStore.open({ file, kek, backend: "native" });
    try {
      const got = after.resolve({ org: ORG, app: APP, minVersion: 1 });
      expect(got.secrets.length).toBe(10);
      expect(got.secrets.find((s) => s.name === "K3")?.value).toBe("crash-value-3");
      // Its intent was durable before the write. The outcome goes out with the next group commit
      // (it may be lost in a kill right after the reply): if it is, the restart's reconcile
      // records `ok`, derived from the committed row, never `aborted`.
      const audit = await PetsemAudit.open({ dir: `${file}-audit`, node: "worker", timers: false });
      try {
        await audit.reconcile(after);
      } finally {
        await audit.close();
      }
      const sets = auditLines(`${file}-audit`).filter((l) => l.op === "set");
      expect(sets.map((l) => [l.kind, l.outcome ?? null])).toEqual([
        ["intent", null],
        ["outcome", "ok"],
      ]);
    } finally {
      after.close();
    }
  });

  it("P15: N concurrent writers (separate processes) with the same cas: exactly one wins", async () => {
    const { store, file, kek } = freshStore("native");
    store.set({ org: ORG, app: APP, values: { X: "initial" } });
    const n = 4;
    const kids = Array.from({ length: n }, (_, id) =>
      startWorker({ file, kek: Buffer.from(kek).toString("hex"), backend: "native", mode: "cas-race", id }),
    );
    await Promise.all(kids.map((k) => k.waitFor("READY")));
    for (const k of kids) k.proc.stdin?.end("go\n");
    const results = await Promise.all(kids.map((k) => k.waitFor((l) => l.startsWith("{"))));
    await Promise.all(kids.map((k) => k.exited));
    const parsed = results.map((r) => JSON.parse(r) as { ok: boolean; code?: string; app_version?: number });
    expect(parsed.filter((p) => p.ok)).toEqual([{ ok: true, app_version: 2 }]);
    expect(parsed.filter((p) => !p.ok).map((p) => p.code)).toEqual(Array(n - 1).fill("cas_mismatch"));
    expect(store.appVersion(ORG, APP)).toBe(2);
    const x = store.resolve({ org: ORG, app: APP, minVersion: 2 }).secrets[0];
    expect(x?.version).toBe(2);
    expect(x?.value).toMatch(/^writer-\d$/);
  });

  it("several processes opening a new database at once all start and share one server key", async () => {
    const dir = tempDir();
    const file = join(dir, "fresh.db");
    const kek = Buffer.from(newKek()).toString("hex");
    const kids = Array.from({ length: 3 }, (_, id) =>
      startWorker({ file, kek, backend: "native", mode: "cas-race", id }),
    );
    await Promise.all(kids.map((k) => k.waitFor("READY")));
    for (const k of kids) k.proc.stdin?.end("go\n");
    await Promise.all(kids.map((k) => k.waitFor((l) => l.startsWith("{"))));
    expect(await Promise.all(kids.map((k) => k.exited))).toEqual([0, 0, 0]);
    const store = SecretStore.open({ file, kek: new Uint8Array(Buffer.from(kek, "hex")), backend: "native" });
    try {
      expect(store.appVersion(ORG, APP)).toBe(0);
    } finally {
      store.close();
    }
  });
});
