/**
 * The Noise route is served on node:http directly (app.ts `front`, @tkdb/noise nodeNoiseListener)
 * while every other request still goes through the Hono app: what the front does not take must
 * be answered exactly as before (404s, the listener's 413), and what it takes must work.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PetsemClient } from "@tkdb/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPetsem, startPetsem } from "../src/server.js";

let dir: string;
let petsem: RunningPetsem;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "petsem-front-"));
  petsem = await startPetsem({ dataDir: dir, kek: randomBytes(32), noiseStaticKey: randomBytes(32) });
}, 60_000);

afterAll(async () => {
  await petsem?.close();
  rmSync(dir, { recursive: true, force: true });
});

function send(method: string, path: string, body: Buffer | null): Promise<number> {
  const u = new URL(petsem.url);
  return new Promise((resolve, reject) => {
    const r = request(
      { host: u.hostname, port: u.port, method, path, headers: { "content-type": "application/vnd.noise" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    r.on("error", reject);
    r.end(body ?? undefined);
  });
}

describe("petsem's node:http Noise front", () => {
  it("serves message 1 (health), the session open and a session call through a real Noise client", async () => {
    const client = new PetsemClient({ endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }] });
    await expect(client.health()).resolves.toBeTruthy();
    // list rides in a session: the open and the call both reach the op, which refuses the token.
    await expect(client.list("not-a-token", 1n, 1n)).rejects.toMatchObject({ code: "unauthorized" });
  });

  it("leaves non-POST, multi-segment and empty-op paths to the app's 404", async () => {
    expect(await send("GET", "/noise/v1/secrets/health", null)).toBe(404);
    expect(await send("POST", "/noise/v1/secrets/a/b", Buffer.alloc(10))).toBe(404);
    expect(await send("POST", "/noise/v1/secrets/", Buffer.alloc(10))).toBe(404);
    expect(await send("POST", "/noise/v1/verify/health", Buffer.alloc(10))).toBe(404);
    expect(await send("GET", "/", null)).toBe(404);
  });

  it("refuses a garbage message 1 with the bare 400, an over-limit one with 400, a declared oversized body with 413", async () => {
    expect(await send("POST", "/noise/v1/secrets/health", Buffer.alloc(10))).toBe(400);
    expect(await send("POST", "/noise/v1/secrets/health", Buffer.alloc(100_000))).toBe(400);
    expect(await send("POST", "/noise/v1/secrets/health", Buffer.alloc(200_000))).toBe(413);
  });
});
