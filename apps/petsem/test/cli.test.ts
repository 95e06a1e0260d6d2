import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { noiseCall } from "@tkdb/noise";
import { describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";

const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

function run(
  args: string[],
  env: Record<string, string>,
  onLine?: (line: string, kill: () => void) => void,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (onLine && out.includes("\n")) onLine(out.split("\n")[0] as string, () => p.kill("SIGTERM"));
    });
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    p.on("exit", (code) => resolve({ code, out, err }));
  });
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

describe("petsem CLI", () => {
  it("keygen, token mint and serve work together; serve refuses to start without a KEK", async () => {
    const dir = tempDir();
    const keys = await run(["keygen"], {});
    expect(keys.code).toBe(0);
    const env: Record<string, string> = { ...parseEnv(keys.out), PETSEM_DATA_DIR: dir, PETSEM_PORT: "0" };
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(["PETSEM_KEK", "PETSEM_NOISE_KEY", "PETSEM_TKDB_SHARED_KEY"]),
    );

    const noKek = await run(["serve"], { PETSEM_DATA_DIR: dir });
    expect(noKek.code).toBe(1);
    expect(noKek.err).toMatch(/config: PETSEM_KEK or PETSEM_KEK_FILE is required/);

    const writer = await run(["token", "mint", "--writer", "--org", "7"], env);
    expect(writer.code).toBe(0);
    expect(writer.out.trim()).toMatch(/^fm2_/);
    const reader = await run(["token", "mint", "--reader"], env);
    expect(reader.out.trim()).toMatch(/^fm2_/);

    let listed: unknown;
    // a petsem that can resolve follows tkdb's revocation feed: serve refuses without it
    const noFeed = await run(["serve"], env);
    expect(noFeed.code).toBe(1);
    expect(noFeed.err).toMatch(/config: PETSEM_TKDB_URL and PETSEM_TKDB_PUBLIC_KEY are required/);
    const feed = { PETSEM_TKDB_URL: "http://127.0.0.1:9", PETSEM_TKDB_PUBLIC_KEY: "11".repeat(32) };
    const served = await run(["serve"], { ...env, ...feed }, (line, kill) => {
      const info = JSON.parse(line) as { petsem: string; noise_public_key: string };
      void noiseCall({
        url: info.petsem,
        api: "secrets",
        op: "list",
        args: { token: `FlyV1 ${writer.out.trim()}`, org: "7", app: "1" },
        pattern: "IK",
        serverPublicKey: new Uint8Array(Buffer.from(info.noise_public_key, "hex")),
      })
        .then((r) => {
          listed = r;
        })
        .finally(kill);
    });
    expect(served.code).toBe(0);
    expect(listed).toEqual({ app_version: 0, secrets: [] });

    const wrongKek = await run(["token", "mint", "--writer"], { ...env, PETSEM_KEK: "00".repeat(32) });
    expect(wrongKek.code).toBe(1);
    expect(wrongKek.err).toMatch(/wrong_kek/);
    expect(wrongKek.err).not.toContain(env.PETSEM_KEK as string);
  });
});
