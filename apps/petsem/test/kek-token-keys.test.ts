/**
 * `petsem token key rotate` and `retire` (src/store/token-keys.ts): after a rotation new tokens
 * are signed with the new key and tokens of the old key still verify; after the retirement the
 * old key's tokens are refused. A running authority sees both changes without a restart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAuthorizationHeader } from "@tkdb/macaroon";
import { afterAll, describe, expect, it } from "vitest";
import { runPetsemCli } from "../src/cli/index.js";
import { openPetsem } from "../src/server.js";
import { codeOf, hex, newKek, ORG } from "./kek-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "petsem-token-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await runPetsemCli({
    argv,
    env,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: dir,
  });
  return { code, stdout, stderr };
}

/** The key id a token was signed under (hex). */
function kidOf(token: string): string {
  const [t] = parseAuthorizationHeader(`FlyV1 ${token}`);
  if (t?.kind !== "macaroon") throw new Error("not a token");
  return Buffer.from(t.macaroon.nonce.kid).toString("hex");
}

describe("petsem token signing keys", () => {
  const kek = newKek();
  const dataDir = join(dir, "data");
  const file = join(dataDir, "petsem.db");
  const env = { PETSEM_DATA_DIR: dataDir, PETSEM_KEK: hex(kek) };

  let oldToken = "";
  let newToken = "";
  let running: ReturnType<typeof openPetsem> | undefined;
  afterAll(() => running?.close());
  const allowed = (token: string) =>
    (running as ReturnType<typeof openPetsem>).authority.authorize(`FlyV1 ${token}`, ["list"], ORG, 1n).actor;

  it("after rotate, new tokens carry the new key id and tokens of the old key still verify, in a server started before the rotation", async () => {
    const mint = await run(["token", "mint", "--writer", "--init"], env);
    expect(mint.code, mint.stderr).toBe(0);
    oldToken = mint.stdout.trim();
    running = openPetsem({ file, kek });
    expect(allowed(oldToken)).toMatch(/^token:/);
    const rotated = await run(["token", "key", "rotate", "--json"], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { added, keys } = JSON.parse(rotated.stdout) as {
      added: { generation: number; kid: string };
      keys: unknown[];
    };
    expect([added.generation, keys.length]).toEqual([2, 2]);
    newToken = (await run(["token", "mint", "--writer"], env)).stdout.trim();
    expect(kidOf(newToken)).toBe(added.kid);
    expect(kidOf(oldToken)).not.toBe(added.kid);
    expect(kidOf(running.authority.mintWriter())).toBe(added.kid); // the running server signs with it too
    expect(allowed(oldToken)).toMatch(/^token:/);
    expect(allowed(newToken)).toMatch(/^token:/);
  });

  it("after retire, tokens of the old key are refused, by the running server and after a restart, and new-key tokens still verify", async () => {
    const retired = await run(["token", "key", "retire", "--json"], env);
    expect(retired.code, retired.stderr).toBe(0);
    expect(codeOf(() => allowed(oldToken))).toBe("unauthorized");
    expect(allowed(newToken)).toMatch(/^token:/);
    expect((await run(["token", "key", "retire"], env)).code).toBe(1); // nothing left to retire
    running?.close();
    running = openPetsem({ file, kek });
    expect(codeOf(() => allowed(oldToken))).toBe("unauthorized");
    expect(allowed(newToken)).toMatch(/^token:/);
  });
});
