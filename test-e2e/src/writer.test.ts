/**
 * Flow step 1 (issue 7): the API server holds petsem's writer token, attenuates it per request to
 * one organization and app, writes secrets, and cannot read them back through any call.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SecretScope } from "@tkdb/caveats";
import { PetsemClient } from "@tkdb/client";
import { encodeAuthorizationHeader, Macaroon, parseAuthorizationHeader } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "./harness.js";

const ORG = 4242n;
const APP = 77n;
const MARKER = `s3cr3t-${hex(key32())}`;

let petsem: RunningService;
let client: PetsemClient;
let writer: string;
const dir = tempDir("e2e-writer");

/** What the API server does per request: confine its writer token to one org and app. */
function confine(token: string, org: bigint, app: bigint): string {
  const parsed = parseAuthorizationHeader(token);
  const m = parsed[0]?.kind === "macaroon" ? parsed[0].macaroon : undefined;
  if (!m) throw new Error("writer token did not parse");
  const child = Macaroon.decodeUnverified(m.encode());
  child.add(new SecretScope(org, app));
  return encodeAuthorizationHeader([child]);
}

beforeAll(async () => {
  const env = {
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir.path, "petsem"),
    PETSEM_KEK: hex(key32()),
    PETSEM_NOISE_KEY: hex(x25519().secretKey),
  };
  petsem = await startService("petsem", env);
  const minted = await cli("petsem", ["token", "mint", "--writer"], env);
  expect(minted.code).toBe(0);
  writer = minted.stdout.trim();
  client = new PetsemClient({ endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }] });
}, 60_000);

afterAll(async () => {
  await petsem?.stop();
  dir.remove();
});

describe("the API server's writer token", () => {
  it("writes a batch for its org and app, and gets versions and digests back, never values", async () => {
    const w = await client.set(confine(writer, ORG, APP), ORG, APP, { DATABASE_URL: MARKER, OTHER: "x" });
    expect(w.app_version).toBe(1);
    const listed = await client.list(confine(writer, ORG, APP), ORG, APP);
    expect(listed.secrets.map((s) => s.name).sort()).toEqual(["DATABASE_URL", "OTHER"]);
    expect(JSON.stringify(listed)).not.toContain(MARKER);
  });

  it("cannot resolve (read) values, attenuated or not", async () => {
    for (const token of [writer, confine(writer, ORG, APP)]) {
      const err = await client.resolve(token, ORG, APP, 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoiseRemoteError);
      expect(JSON.stringify(err)).not.toContain(MARKER);
    }
  });

  it("confined to one org and app, it cannot write or list another", async () => {
    const token = confine(writer, ORG, APP);
    await expect(client.set(token, ORG, APP + 1n, { A: "1" })).rejects.toBeInstanceOf(NoiseRemoteError);
    await expect(client.list(token, ORG + 1n, APP)).rejects.toBeInstanceOf(NoiseRemoteError);
  });

  it("rolls back without the value ever leaving petsem", async () => {
    const token = confine(writer, ORG, APP);
    await client.set(token, ORG, APP, { DATABASE_URL: "second" });
    const r = await client.rollback(token, ORG, APP, "DATABASE_URL", 1);
    expect(JSON.stringify(r)).not.toContain(MARKER);
    const listed = await client.list(token, ORG, APP);
    expect(listed.app_version).toBeGreaterThanOrEqual(3);
  });

  it("no secret value appears in the process output or the database files", () => {
    expect(petsem.output()).not.toContain(MARKER);
    // every file below the data folder: database, WAL, and the audit log's folder
    const files = readdirSync(join(dir.path, "petsem"), { recursive: true, encoding: "utf8" }).filter((f) =>
      statSync(join(dir.path, "petsem", f)).isFile(),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(join(dir.path, "petsem", f));
      expect(bytes.includes(Buffer.from(MARKER))).toBe(false);
    }
  });
});
