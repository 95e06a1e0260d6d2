/**
 * auditVerifyCli / auditExportCli, the one definition of `tkdb|petsem audit verify|export`, run
 * against real logs with a plain command context (the runner's exit codes come from the errors
 * the app hands over: here a tagged Error standing in for @tkdb/service's CliError).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AuditCliApp,
  type AuditCliContext,
  AuditLog,
  auditExportCli,
  auditVerifyCli,
  isAuditError,
  noiseActor,
} from "../src/index.js";
import { randomKey, tempDir } from "./fixtures/helpers.js";

class Refusal extends Error {
  constructor(
    readonly kind: "usage" | "refused",
    message: string,
    readonly where?: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

let root: string;
let cleanup: () => void;
const app = (dir: string): AuditCliApp<AuditCliContext> => ({
  app: "demo",
  dirVariable: "DEMO_AUDIT_DIR",
  dataDirVariable: "DEMO_DATA_DIR",
  auditDir: () => dir,
  errors: {
    usage: (m, o) => new Refusal("usage", m, o.where),
    refused: (m, o) => new Refusal("refused", m, o.where, o.hint),
  },
});

function ctx(opts: Record<string, unknown> = {}, args: Record<string, string> = {}) {
  let out = "";
  return { c: { opts, args, stdout: { write: (t: string) => (out += t) } }, out: () => out };
}

async function fill(dir: string, node: string, n: number): Promise<void> {
  const log = await AuditLog.open(dir, { node, timers: false });
  for (let i = 0; i < n; i++)
    await log.appendDurable({ kind: "event", op: "verify", actor: noiseActor(randomKey()), outcome: "ok" });
  await log.close();
}

beforeAll(async () => {
  ({ dir: root, cleanup } = tempDir("cli-commands"));
  await fill(join(root, "audit"), "n1", 5);
  await fill(join(root, "audit", "cli"), "n1-cli", 2);
});
afterAll(() => cleanup());

describe("audit verify|export command definitions", () => {
  it("verify reads the node's log and the local commands' log (cli/), and counts both", async () => {
    const r = await auditVerifyCli(app(join(root, "audit"))).run(ctx().c);
    expect(r.ok).toBe(true);
    expect(r.logs?.map((l) => l.dir)).toEqual([join(root, "audit"), join(root, "audit", "cli")]);
    expect(r.records).toBe(r.logs?.reduce((n, l) => n + l.lines, 0));
  });

  it("export writes both logs as _bulk documents under <app>-audit by default, or the given prefix", async () => {
    const a = ctx();
    await auditExportCli(app(join(root, "audit"))).run(a.c);
    expect(a.out()).toMatch(/"_index":"demo-audit-\d{4}\.\d{2}\.\d{2}"/);
    expect(a.out()).toContain('"node":"n1-cli"');
    const b = ctx({ indexPrefix: "demo-x" });
    await auditExportCli(app(join(root, "audit"))).run(b.c);
    expect(b.out()).toMatch(/"_index":"demo-x-/);
  });

  it("a prefix outside INDEX_PREFIX_RE is a usage refusal, positional or --index-prefix, before anything is read or written", async () => {
    for (const [opts, args, where] of [
      [{}, { index: "Bad Index" }, "index"],
      [{ indexPrefix: "_all" }, {}, "--index-prefix"],
      [{ indexPrefix: "a/b" }, {}, "--index-prefix"],
      [{ indexPrefix: "UPPER", legacy: true }, {}, "--index-prefix"],
    ] as const) {
      const x = ctx(opts, args);
      let legacyRan = false;
      const def = auditExportCli(app(join(root, "nowhere")), () => {
        legacyRan = true;
      });
      const e = await def.run(x.c).catch((err: unknown) => err);
      expect(e instanceof Refusal && e.kind === "usage" && e.where === where, JSON.stringify(opts)).toBe(
        true,
      );
      expect([x.out(), legacyRan]).toEqual(["", false]);
    }
  });

  it("whole-number options refuse anything else as usage, naming the flag and not echoing the value", () => {
    const opt = auditExportCli(app(root)).options.find((o) => o.flags.startsWith("--from-seq"));
    expect(opt?.parse?.("12")).toBe(12);
    for (const bad of ["-1", "1e3", "x", "1234567890123456"]) {
      let e: unknown;
      try {
        opt?.parse?.(bad);
      } catch (err) {
        e = err;
      }
      expect(e instanceof Refusal && e.kind === "usage" && !e.message.includes(bad)).toBe(true);
    }
  });

  it("no log where the app says is refused (exit 1) with the variable to check; --dir reads one folder only", async () => {
    const e = await auditVerifyCli(app(join(root, "none")))
      .run(ctx().c)
      .catch((err: unknown) => err);
    expect(e instanceof Refusal && e.kind === "refused" && e.hint?.includes("DEMO_AUDIT_DIR") === true).toBe(
      true,
    );
    const one = await auditVerifyCli(app(join(root, "none"))).run(ctx({ dir: join(root, "audit", "cli") }).c);
    expect(one.logs?.map((l) => l.dir)).toEqual([join(root, "audit", "cli")]);
  });

  it("--legacy appears only for an app with an old table, and runs its reader instead of the log", async () => {
    expect(auditVerifyCli(app(root)).options.some((o) => o.flags === "--legacy")).toBe(false);
    const def = auditVerifyCli(app(join(root, "none")), () => ({ ok: true, records: 3 }));
    expect(def.options.some((o) => o.flags === "--legacy")).toBe(true);
    expect(await def.run(ctx({ legacy: true }).c)).toEqual({ ok: true, records: 3 });
  });

  it("an edited line makes verify and export fail with integrity, naming the log and never printing documents", async () => {
    const dir = join(root, "edited");
    mkdirSync(dir);
    await fill(dir, "n2", 4);
    const seg = readdirSync(dir).find((f) => f.startsWith("audit-")) as string;
    const text = readFileSync(join(dir, seg), "utf8").replace('"op":"verify"', '"op":"verifz"');
    writeFileSync(join(dir, seg), text);
    const v = await auditVerifyCli(app(dir))
      .run(ctx().c)
      .catch((err: unknown) => err);
    expect(isAuditError(v, "integrity") && v.message.includes(dir)).toBe(true);
    const x = ctx();
    const e = await auditExportCli(app(dir))
      .run(x.c)
      .catch((err: unknown) => err);
    expect(isAuditError(e, "integrity")).toBe(true);
    expect(x.out()).toBe("");
  });
});
