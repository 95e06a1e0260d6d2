/**
 * `petsem secrets …` and `petsem boot` against a RUNNING petsem on loopback, over HTTP/Noise, in
 * process through runPetsemCli (argv, env, streams; no subprocess except boot's child, `node -e`).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NoiseSession, resolveBackend } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OnlinePetsem, petsemCli, type Ran, startOnline } from "./cli-online.js";

let p: OnlinePetsem;
let nextApp = 100n;
const ORG = 7n;

beforeAll(async () => {
  p = await startOnline();
}, 60_000);

afterAll(async () => {
  await p?.close();
});

/** A fresh app id per test, so tests do not see each other's secrets. */
function newApp(): string {
  nextApp += 1n;
  return String(nextApp);
}

function run(argv: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<Ran> {
  return petsemCli(
    argv,
    { ...p.env, ...opts.env },
    { cwd: p.dir, ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }) },
  );
}

const marker = () => `marker-${randomBytes(12).toString("hex")}`;

interface Listed {
  app_version: number;
  deployed: { min_version: number } | null;
  secrets: { name: string; digest: string; version: number; updated_at: string; status: string }[];
}

async function list(app: string): Promise<Listed> {
  const r = await run(["secrets", "list", "--org", "7", "--app", app, "--json"]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Listed;
}

/** Boots `node -e` with the app's secrets and returns what the child saw of `names`. */
async function bootSees(app: string, names: string[]): Promise<Record<string, string | null>> {
  const file = join(p.dir, `seen-${randomBytes(6).toString("hex")}.json`);
  const script = `require("fs").writeFileSync(${JSON.stringify(file)}, JSON.stringify(Object.fromEntries(${JSON.stringify(names)}.map((n) => [n, process.env[n] ?? null]))))`;
  const r = await run([
    "boot",
    "--org",
    "7",
    "--app",
    app,
    "--discharge",
    p.discharge(ORG, BigInt(app)),
    "--",
    process.execPath,
    "-e",
    script,
  ]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, string | null>;
}

describe("petsem secrets (through the running service)", () => {
  it("every secrets command, the secrets group and boot answer --help with exit 0", async () => {
    for (const argv of [
      ["secrets", "--help"],
      ...["set", "import", "unset", "list", "history", "rollback", "deploy"].map((c) => [
        "secrets",
        c,
        "--help",
      ]),
      ["boot", "--help"],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(0);
      if (argv.length > 2) expect(r.out).toContain("Examples:");
    }
  });

  it("set writes through the service and deploys: list shows each secret Deployed with a digest, never the value", async () => {
    const app = newApp();
    const value = marker();
    const r = await run(["secrets", "set", "--org", "7", "--app", app, `API_KEY=${value}`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out + r.err).not.toContain(value);
    const l = await list(app);
    expect(l.deployed?.min_version).toBe(l.app_version);
    expect(l.secrets).toEqual([
      expect.objectContaining({
        name: "API_KEY",
        version: 1,
        status: "Deployed",
        digest: expect.stringMatching(/^rand128:/),
      }),
    ]);
    const human = await run(["secrets", "list", "--org", "7", "--app", app]);
    expect(human.out).toMatch(/^NAME\s+DIGEST\s+VERSION\s+UPDATED\s+STATUS\n/);
    expect(human.out + human.err).not.toContain(value);
  });

  it("with --json, stdout is exactly one JSON line (notes and warnings stay on stderr)", async () => {
    const r = await run(["secrets", "set", "--org", "7", "--app", newApp(), "--json", "A=1"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.endsWith("\n")).toBe(true);
    expect(r.out.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(r.out)).toMatchObject({ staged: false, secrets: [{ name: "A", version: 1 }] });
  });

  it("set warns on stderr when values come from argv; NAME=- reads the value from stdin without the warning", async () => {
    const app = newApp();
    const fromArgv = await run(["secrets", "set", "--org", "7", "--app", app, "A=1"]);
    expect(fromArgv.err).toContain("shell history");
    const value = marker();
    const fromStdin = await run(["secrets", "set", "--org", "7", "--app", app, "B=-"], {
      stdin: `${value}\n`,
    });
    expect(fromStdin.code, fromStdin.err).toBe(0);
    expect(fromStdin.err).not.toContain("shell history");
    expect(await bootSees(app, ["A", "B"])).toEqual({ A: "1", B: value });
  });

  it("set --stage writes without deploying: list shows it Staged until secrets deploy records its version", async () => {
    const app = newApp();
    expect((await run(["secrets", "set", "--org", "7", "--app", app, "OLD=1"])).code).toBe(0);
    const staged = await run(["secrets", "set", "--org", "7", "--app", app, "--stage", "NEW=2"]);
    expect(staged.code, staged.err).toBe(0);
    expect(staged.err).toContain("secrets deploy");
    let l = await list(app);
    expect(Object.fromEntries(l.secrets.map((s) => [s.name, s.status]))).toEqual({
      NEW: "Staged",
      OLD: "Deployed",
    });
    const d = await run(["secrets", "deploy", "--org", "7", "--app", app, "--json"]);
    expect(d.code, d.err).toBe(0);
    expect(JSON.parse(d.out)).toMatchObject({ min_version: l.app_version, changed: true });
    l = await list(app);
    expect(l.secrets.map((s) => s.status)).toEqual(["Deployed", "Deployed"]);
  });

  it("an app never deployed lists every secret Staged", async () => {
    const app = newApp();
    expect((await run(["secrets", "set", "--org", "7", "--app", app, "--stage", "X=1"])).code).toBe(0);
    const l = await list(app);
    expect(l.deployed).toBeNull();
    expect(l.secrets.map((s) => s.status)).toEqual(["Staged"]);
  });

  it("import sets every secret of a .env file, and of stdin, with Fly's parsing rules", async () => {
    const app = newApp();
    const file = join(p.dir, "app.env");
    writeFileSync(file, '# comment\nDB="postgres://x"\nPEM="""line1\nline2"""\nPLAIN = v # note\n');
    const r = await run(["secrets", "import", "--org", "7", "--app", app, file]);
    expect(r.code, r.err).toBe(0);
    const s = await run(["secrets", "import", "--org", "7", "--app", app], { stdin: "FROM_STDIN='yes'\r\n" });
    expect(s.code, s.err).toBe(0);
    expect(await bootSees(app, ["DB", "PEM", "PLAIN", "FROM_STDIN"])).toEqual({
      DB: "postgres://x",
      PEM: "line1\nline2",
      PLAIN: "v",
      FROM_STDIN: "yes",
    });
  });

  it("import refuses a malformed line with exit 2, naming the line and never its text", async () => {
    const leaked = `fm2_${randomBytes(16).toString("hex")}`;
    const r = await run(["secrets", "import", "--org", "7", "--app", newApp()], {
      stdin: `A=1\n${leaked}\n`,
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain("line 2");
    expect(r.err).not.toContain(leaked);
  });

  it("unset removes secrets: list no longer shows them and the next boot does not get them", async () => {
    const app = newApp();
    expect((await run(["secrets", "set", "--org", "7", "--app", app, "A=1", "B=2"])).code).toBe(0);
    const u = await run(["secrets", "unset", "--org", "7", "--app", app, "A", "NEVER_SET"]);
    expect(u.code, u.err).toBe(0);
    expect((await list(app)).secrets.map((s) => s.name)).toEqual(["B"]);
    expect(await bootSees(app, ["A", "B"])).toEqual({ A: null, B: "2" });
  });

  it("history lists a secret's versions with times and kinds, never values", async () => {
    const app = newApp();
    const values = [marker(), marker()];
    for (const v of values) await run(["secrets", "set", "--org", "7", "--app", app, "K=-"], { stdin: v });
    await run(["secrets", "unset", "--org", "7", "--app", app, "K"]);
    const h = await run(["secrets", "history", "K", "--org", "7", "--app", app, "--json"]);
    expect(h.code, h.err).toBe(0);
    for (const v of values) expect(h.out + h.err).not.toContain(v);
    const r = JSON.parse(h.out) as {
      current_version: number;
      live: boolean;
      versions: { version: number; deleted: boolean; created_at: string }[];
    };
    expect(r).toMatchObject({ current_version: 3, live: false });
    expect(r.versions.map((v) => [v.version, v.deleted])).toEqual([
      [3, true],
      [2, false],
      [1, false],
    ]);
    for (const v of r.versions) expect(Number.isNaN(Date.parse(v.created_at))).toBe(false);
    const human = await run(["secrets", "history", "K", "--org", "7", "--app", app]);
    expect(human.out).toMatch(/^VERSION\s+APP_VERSION\s+CREATED\s+KIND\s+DIGEST\n3 \(current\)/);
  });

  it("history of a name never set is refused with exit 1 and says what to check", async () => {
    const h = await run(["secrets", "history", "NOPE", "--org", "7", "--app", newApp()]);
    expect(h.code).toBe(1);
    expect(h.err).toContain("not_found");
    expect(h.err).toContain("secrets list");
  });

  it("rollback --to N brings version N's value back as a new version, and deploys it", async () => {
    const app = newApp();
    await run(["secrets", "set", "--org", "7", "--app", app, "K=-"], { stdin: "first" });
    await run(["secrets", "set", "--org", "7", "--app", app, "K=-"], { stdin: "second" });
    const r = await run(["secrets", "rollback", "K", "--to", "1", "--org", "7", "--app", app, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ staged: false, secrets: [{ name: "K", version: 3 }] });
    expect(await bootSees(app, ["K"])).toEqual({ K: "first" });
    expect((await list(app)).secrets[0]?.status).toBe("Deployed");
  });

  it("deploy is refused (exit 1) past the app's current version and below the recorded one; the same version again changes nothing", async () => {
    const app = newApp();
    await run(["secrets", "set", "--org", "7", "--app", app, "A=1"]);
    const past = await run(["secrets", "deploy", "--org", "7", "--app", app, "--min-version", "99"]);
    expect(past.code).toBe(1);
    expect(past.err).toContain("invalid_request");
    const again = await run(["secrets", "deploy", "--org", "7", "--app", app, "--json"]);
    expect(JSON.parse(again.out)).toMatchObject({ min_version: 1, changed: false });
    const below = await run(["secrets", "deploy", "--org", "7", "--app", app, "--min-version", "0"]);
    expect(below.code).toBe(1);
    expect(below.err).toContain("conflict");
  });
});

describe("the deploy op (wire)", () => {
  it("a repeated rid is answered from the replay record, not re-applied at the new version; other arguments are idempotency_mismatch", async () => {
    const app = newApp();
    const token = `FlyV1 ${p.env.PETSEM_WRITER_TOKEN}`;
    const session = new NoiseSession({
      url: p.petsem.url,
      api: "secrets",
      pattern: "IK",
      serverPublicKey: p.petsem.publicKey,
      clientStaticKey: resolveBackend("native").generateKeyPair(),
      timeoutMs: 10_000,
    });
    const rid = randomBytes(16).toString("base64url");
    try {
      await session.call("set", { token, org: "7", app, values: { A: "1" } });
      const first = await session.call<{ min_version: number }>(
        "deploy",
        { token, org: "7", app },
        { rid: rid },
      );
      expect(first.min_version).toBe(1);
      await session.call("set", { token, org: "7", app, values: { B: "2" } });
      const again = await session.call<{ min_version: number }>(
        "deploy",
        { token, org: "7", app },
        { rid: rid },
      );
      expect(again.min_version).toBe(1);
      expect((await list(app)).deployed?.min_version).toBe(1);
      const other = await session.call("deploy", { token, org: "7", app, min_version: 2 }, { rid: rid }).then(
        () => "ok",
        (e: unknown) => (e as { code?: string }).code,
      );
      expect(other).toBe("idempotency_mismatch");
    } finally {
      session.close();
    }
  });

  it("the reader token, even with its tkdb discharge, cannot record a deploy (forbidden): deploying is a writer's right", async () => {
    const app = newApp();
    const r = await run(["secrets", "deploy", "--org", "7", "--app", app], {
      env: { PETSEM_WRITER_TOKEN: `${p.reader},${p.discharge(ORG, BigInt(app))}` },
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain("forbidden");
  });
});
