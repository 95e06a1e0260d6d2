/**
 * scripts/check-layout.mjs, run as `npm test` runs it (a separate node process), on small fixture
 * trees written to a temporary folder: each check catches its violation and stays quiet on the
 * allowed form, and the allow-list is a ratchet (a stale entry is an error).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const script = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "check-layout.mjs");

interface Finding {
  check: string;
  file: string;
  line: number;
  key: string;
  message: string;
}
interface Report {
  files: number;
  violations: Finding[];
  allowed: Finding[];
  stale: { check: string; file: string; match?: string; reason: string }[];
  error?: string;
}

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Writes `files` (path → text) into a fresh root, plus the allow-list when given. */
function fixture(files: Record<string, string>, allow?: unknown): string {
  const root = mkdtempSync(join(tmpdir(), "check-layout-"));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  if (allow !== undefined) {
    mkdirSync(join(root, "scripts"), { recursive: true });
    writeFileSync(join(root, "scripts", "check-layout.allow.json"), JSON.stringify(allow));
  }
  return root;
}

function check(root: string): { status: number | null; report: Report } {
  const r = spawnSync(process.execPath, [script, "--root", root, "--json"], { encoding: "utf8" });
  return { status: r.status, report: JSON.parse(r.stdout) as Report };
}

/** The violations as sorted `check file key` strings, so each test states exactly what is caught. */
const caught = (r: Report) => r.violations.map((v) => `${v.check} ${v.file} ${v.key}`).sort();

/** A function whose body spans `lines` lines, from `{` to `}`. */
function fn(name: string, lines: number, comment = ""): string {
  const body = Array.from({ length: lines - 4 }, (_, i) => `  x += ${i};`).join("\n");
  return `${comment}export function ${name}(): number {\n  let x = 0;\n${body}\n  return x;\n}\n`;
}

// Each case starts node and loads the TypeScript compiler: seconds on a busy machine, never timed.
describe("check-layout", { timeout: 180_000 }, () => {
  it("passes a tree where every rule is kept (env.ts, src/crypto.ts, exempt tests and benches)", () => {
    const root = fixture({
      "apps/a/src/env.ts": "export const env = process.env;\n",
      "apps/a/src/crypto.ts":
        'import { createHash } from "node:crypto";\nimport { sha256 } from "@noble/hashes/sha2.js";\nexport { createHash, sha256 };\n',
      "apps/a/src/main.ts":
        '// process.env and timingSafeEqual in a comment are not code\nexport const s = "process.env";\n',
      "apps/a/test/env.test.ts":
        'import { timingSafeEqual } from "node:crypto";\nexport const e = process.env;\n',
      "packages/p/src/crypto.ts": 'import * as c from "node:crypto";\nexport const h = c.createHash;\n',
      "packages/p/bench/bench.ts": "export const e = process.env.BENCH;\n",
      "packages/p/vitest.config.ts": "export default { env: process.env };\n",
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([]);
    expect(report.files).toBe(4);
    expect(status).toBe(0);
  });

  it("env-read: process.env is caught everywhere but apps/<app>/src/env.ts, in every spelling", () => {
    const root = fixture({
      "apps/a/src/env.ts": "export const env = process.env;\n",
      "apps/a/src/litestream.ts": "export const d = () => process.env;\n",
      "apps/a/bin/a.mjs": 'export const e = process["env"];\n',
      "apps/a/src/sub/env.ts": "export const e = globalThis.process.env;\n",
      "packages/p/src/config.ts": "const { env } = process;\nexport const port = env.PORT;\n",
      "packages/p/src/named.ts": 'import { env } from "node:process";\nexport const e = env;\n',
      "packages/p/src/ns.ts": 'import proc from "node:process";\nexport const e = proc.env;\n',
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([
      "env-read apps/a/bin/a.mjs process.env",
      "env-read apps/a/src/litestream.ts process.env",
      "env-read apps/a/src/sub/env.ts process.env",
      "env-read packages/p/src/config.ts process.env",
      "env-read packages/p/src/named.ts process.env",
      "env-read packages/p/src/ns.ts process.env",
    ]);
    expect(status).toBe(1);
  });

  it("crypto-import: node:crypto, crypto and @noble/* outside <unit>/src/crypto.ts are caught in every import form", () => {
    const root = fixture({
      "apps/a/src/tokens.ts": 'import { randomBytes } from "node:crypto";\nexport const r = randomBytes;\n',
      "apps/a/src/util/crypto.ts": 'export { createHash } from "crypto";\n',
      "packages/p/src/lazy.ts": 'export const h = () => import("@noble/hashes/sha2.js");\n',
      "packages/p/src/types.ts": 'export type C = typeof import("node:crypto");\n',
      "packages/p/src/req.cjs": 'module.exports = require("node:crypto");\n',
      "packages/p/src/crypto.ts": 'import { x25519 } from "@noble/curves/ed25519.js";\nexport { x25519 };\n',
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([
      "crypto-import apps/a/src/tokens.ts node:crypto",
      "crypto-import apps/a/src/util/crypto.ts crypto",
      "crypto-import packages/p/src/lazy.ts @noble/hashes/sha2.js",
      "crypto-import packages/p/src/req.cjs node:crypto",
      "crypto-import packages/p/src/types.ts node:crypto",
    ]);
    expect(status).toBe(1);
  });

  it("litestream-spawn: an app spawning the Litestream binary is caught; a package may", () => {
    const root = fixture({
      "apps/a/src/backup.ts":
        'import { spawn } from "node:child_process";\nexport const go = (bin: string) => spawn(bin, ["replicate"]);\nexport const ls = () => spawn("litestream", ["restore"]);\n',
      "apps/a/src/replica/litestream.ts":
        'import * as cp from "node:child_process";\nexport const run = (b: string) => cp.execFileSync(b, ["version"]);\n',
      "packages/litestream/src/run.ts":
        'import { spawn } from "node:child_process";\nexport const r = () => spawn("litestream", []);\n',
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([
      "litestream-spawn apps/a/src/backup.ts spawn",
      "litestream-spawn apps/a/src/replica/litestream.ts execFileSync",
    ]);
    expect(status).toBe(1);
  });

  it("constant-time-compare: timingSafeEqual and a hand-written XOR loop in an app are caught", () => {
    const root = fixture({
      "apps/a/src/crypto.ts":
        'import { timingSafeEqual } from "node:crypto";\nexport const eq = (a: Buffer, b: Buffer) => timingSafeEqual(a, b);\n',
      "apps/a/src/compare.ts": [
        "export function equal(a: Uint8Array, b: Uint8Array): boolean {",
        "  let d = 0;",
        "  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);",
        "  return d === 0 && a.length === b.length;",
        "}",
        "export const eq2 = (a: number[], b: number[]) => a.reduce((d, x, i) => d | (x ^ (b[i] as number)), 0) === 0;",
        "",
      ].join("\n"),
      "apps/a/src/flags.ts": "export const f = (a: number, b: number) => a | b;\n",
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([
      "constant-time-compare apps/a/src/compare.ts xor-accumulate",
      "constant-time-compare apps/a/src/compare.ts xor-accumulate",
      "constant-time-compare apps/a/src/crypto.ts timingSafeEqual",
      "constant-time-compare apps/a/src/crypto.ts timingSafeEqual",
    ]);
    expect(status).toBe(1);
  });

  it("audit-hash-chain: an app defining a chain-hash function or hashing a previous hash is caught", () => {
    const root = fixture({
      "apps/a/src/crypto.ts": "export const sha256Hex = (s: string) => s;\n",
      "apps/a/src/store.ts": [
        'import { sha256Hex } from "./crypto.js";',
        "export function auditHash(r: { prevHash: string; body: string }): string {",
        "  return r.body;",
        "}",
        "export const link = (prev: string, rec: string) => sha256Hex(prev + rec);",
        "",
      ].join("\n"),
      "apps/a/src/audit.ts":
        "export class Sink {\n  chainHash(p: Uint8Array): Uint8Array {\n    return p;\n  }\n}\n",
      "apps/a/src/export.ts":
        "export const hex = (prevHash: Uint8Array) => Buffer.from(prevHash).toString('hex');\n",
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([
      "audit-hash-chain apps/a/src/audit.ts chainHash",
      "audit-hash-chain apps/a/src/store.ts auditHash",
      "audit-hash-chain apps/a/src/store.ts sha256Hex",
    ]);
    expect(status).toBe(1);
  });

  it("app-file-length: a 401-line file in apps/ is caught, 400 lines is not, packages are not limited", () => {
    const lines = (n: number) =>
      `${Array.from({ length: n }, (_, i) => `export const v${i} = ${i};`).join("\n")}\n`;
    const root = fixture({
      "apps/a/src/big.ts": lines(401),
      "apps/a/src/ok.ts": lines(400),
      "packages/p/src/big.ts": lines(900),
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual(["app-file-length apps/a/src/big.ts lines"]);
    expect(status).toBe(1);
  });

  it("function-length: an 81-line body without a `long:` comment is caught; 80 lines or a `long:` comment pass", () => {
    const why = "// long: one sequence of checks; split, their order would be implicit\n";
    const jsdoc =
      "/**\n * Verifies the chain.\n * long: the spec's steps in order, one place to review.\n */\n";
    const arrow = (name: string, n: number, comment = "") =>
      fn(name, n, comment).replace(
        `export function ${name}(): number {`,
        `export const ${name} = (): number => {`,
      );
    const root = fixture({
      "packages/p/src/a.ts": fn("tooLong", 81) + fn("justRight", 80) + fn("explained", 81, why),
      "packages/p/src/b.ts":
        fn("documented", 120, jsdoc) + arrow("arrowTooLong", 81) + arrow("arrowOk", 81, why),
      "apps/a/src/c.ts": `export class K {\n${fn("method", 81)
        .replace("export function method(): number {", "  method(): number {")
        .replace(/\n}\n$/, "\n  }\n")}}\n`,
    });
    const { status, report } = check(root);
    expect(caught(report)).toEqual([
      "function-length apps/a/src/c.ts method",
      "function-length packages/p/src/a.ts tooLong",
      "function-length packages/p/src/b.ts arrowTooLong",
    ]);
    expect(report.violations.find((v) => v.key === "tooLong")?.message).toContain("81 lines");
    expect(status).toBe(1);
  });

  it("allow-list: an entry allows its findings (by check, file and match) and nothing else", () => {
    const files = {
      "apps/a/src/litestream.ts": "export const d = () => process.env;\n",
      "apps/a/src/other.ts": "export const d = () => process.env;\n",
    };
    const entry = {
      check: "env-read",
      file: "apps/a/src/litestream.ts",
      match: "process.env",
      reason: "goes with the migration to @tkdb/litestream",
    };
    const { status, report } = check(fixture(files, { allow: [entry] }));
    expect(report.allowed.map((f) => f.file)).toEqual(["apps/a/src/litestream.ts"]);
    expect(caught(report)).toEqual(["env-read apps/a/src/other.ts process.env"]);
    expect(report.stale).toEqual([]);
    expect(status).toBe(1);

    const both = check(fixture(files, { allow: [entry, { ...entry, file: "apps/a/src/other.ts" }] }));
    expect(both.report.violations).toEqual([]);
    expect(both.status).toBe(0);
  });

  it("allow-list ratchet: an entry that no longer matches anything is an error", () => {
    const root = fixture(
      { "apps/a/src/env.ts": "export const e = process.env;\n" },
      {
        allow: [
          { check: "env-read", file: "apps/a/src/gone.ts", reason: "was fixed, entry left behind" },
          {
            check: "env-read",
            file: "apps/a/src/env.ts",
            match: "something-else",
            reason: "a match that no finding has",
          },
        ],
      },
    );
    const { status, report } = check(root);
    expect(report.violations).toEqual([]);
    expect(report.stale.map((s) => s.file)).toEqual(["apps/a/src/gone.ts", "apps/a/src/env.ts"]);
    expect(status).toBe(1);
  });

  it("the repository's own allow-list is well-formed: every entry names a known check, a file and a reason", () => {
    // Whether the tree is clean is `npm test`'s job (scripts/test.mjs); this pins the file's shape.
    const { report } = check(join(dirname(script), ".."));
    expect(report.error).toBeUndefined();
    expect(report.files).toBeGreaterThan(50);
    for (const s of report.stale) expect(s.reason.length).toBeGreaterThan(10);
  });

  it("allow-list: an entry without a reason, with an unknown check or an unknown field is refused (exit 2)", () => {
    const files = { "apps/a/src/x.ts": "export const e = process.env;\n" };
    const bad = [
      { check: "env-read", file: "apps/a/src/x.ts" },
      { check: "env-read", file: "apps/a/src/x.ts", reason: "   " },
      { check: "no-such-check", file: "apps/a/src/x.ts", reason: "a reason long enough" },
      { check: "env-read", file: "apps/a/src/x.ts", reason: "a reason long enough", line: 1 },
    ];
    for (const entry of bad) {
      const { status, report } = check(fixture(files, { allow: [entry] }));
      expect(report.error).toBeTypeOf("string");
      expect(status).toBe(2);
    }
  });
});
