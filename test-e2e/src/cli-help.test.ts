/**
 * Every command of both CLIs explains itself: `--help` at every level (the root, each group, each
 * command) exits 0 and prints usage; a runnable command also lists each of its flags, the
 * environment variables it reads, and at least one example. `help <command>` is the same text, and
 * `--version` prints the package version. The command tree is walked from the CLI definitions, so
 * a command added later is covered without editing this file. Runs in-process through runCli (no
 * subprocess, no services): help never needs a database, a key or a server.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type CliDef, runCli } from "@tkdb/service";
import { describe, expect, it } from "vitest";
import { cli as petsemCli } from "../../apps/petsem/src/cli/index.js";
import { cli as tkdbCli } from "../../apps/tkdb/src/cli/index.js";
import { ROOT } from "./harness.js";

interface Node {
  readonly name: string;
  readonly options?: readonly { readonly flags: string }[];
  readonly examples?: readonly string[];
  readonly env?: Readonly<Record<string, unknown>>;
  readonly commands?: readonly Node[];
  readonly run?: unknown;
}

/** Every command path below the root: ["token"], ["token", "mint"], … */
function paths(nodes: readonly Node[], prefix: string[] = []): { path: string[]; node: Node }[] {
  return nodes.flatMap((n) => [
    { path: [...prefix, n.name], node: n },
    ...paths(n.commands ?? [], [...prefix, n.name]),
  ]);
}

async function run(cli: CliDef, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(cli, {
    argv,
    // no development env file: help must not depend on one (cwd outside the repository)
    env: { NODE_ENV: "production" },
    cwd: "/",
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

const CLIS = [
  { app: "tkdb", cli: tkdbCli as CliDef },
  { app: "petsem", cli: petsemCli as CliDef },
] as const;

describe.each(CLIS)("$app --help at every level", ({ app, cli }) => {
  const all = paths((cli as unknown as { commands: readonly Node[] }).commands);

  it("the root --help, `help` and a bare call name every top-level command", async () => {
    const top = (cli as unknown as { commands: readonly Node[] }).commands.map((c) => c.name);
    for (const argv of [["--help"], ["help"]]) {
      const r = await run(cli, argv);
      expect(r.code, argv.join(" ")).toBe(0);
      const text = r.out + r.err;
      expect(text).toContain(`Usage: ${app}`);
      for (const name of top) expect(text, name).toContain(name);
    }
  });

  it("--version prints the package's version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "apps", app, "package.json"), "utf8")) as {
      version: string;
    };
    const r = await run(cli, ["--version"]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(version);
  });

  it("has commands to walk", () => {
    expect(all.filter((p) => p.node.run !== undefined).length).toBeGreaterThan(3);
  });

  it.each(all.map((p) => [p.path.join(" "), p] as const))(
    `${app} %s --help: exits 0 with usage, every flag, its variables and an example`,
    async (_name, { path, node }) => {
      const r = await run(cli, [...path, "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: ${app} ${path.join(" ")}`);
      if (node.run === undefined) {
        // a group lists its subcommands
        for (const sub of node.commands ?? []) expect(r.out).toContain(sub.name);
        return;
      }
      for (const o of node.options ?? []) {
        const long = /--[a-z][a-z0-9-]*/.exec(o.flags)?.[0];
        if (long) expect(r.out, long).toContain(long);
      }
      expect(r.out).toMatch(/Examples?:/);
      for (const ex of node.examples ?? []) expect(ex, ex).toMatch(new RegExp(`(^|\\s)${app} `));
      if (node.env !== undefined && Object.keys(node.env).length > 0) expect(r.out).toContain("Environment:");
      // `help <command>` prints the same text
      const viaHelp = await run(cli, ["help", ...path]);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.out).toBe(r.out);
    },
  );

  it("a mistyped command exits 2 and suggests the right one", async () => {
    const first = all[0]?.node.name ?? "serve";
    const typo = `${first.slice(0, -1)}${first.endsWith("x") ? "y" : "x"}`;
    const r = await run(cli, [typo]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("Did you mean");
  });
});
