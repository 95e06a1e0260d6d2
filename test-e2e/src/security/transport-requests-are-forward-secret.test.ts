/**
 * Security issue 12 item 10: requests that carry secret values or credentials are forward secret.
 *
 * The attacker records every request body on the wire and later steals petsem's static Noise
 * private key (the test generated it, so it has it). With that key alone it can run the responder
 * side of any recorded IK message 1 and read its payload. Before the fix, `set` travelled in
 * message 1 and the recorded secret value came out in the clear; now message 1 only opens a
 * session (no arguments) and the value travels in a transport message whose keys depend on both
 * ephemeral keys, which the attacker never sees.
 */
import { join } from "node:path";
import { SecretScope } from "@tkdb/caveats";
import { PetsemClient } from "@tkdb/client";
import { encodeAuthorizationHeader, Macaroon, parseAuthorizationHeader } from "@tkdb/macaroon";
import { NoiseRemoteError, noiseCall, resolveBackend } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";
import { openWithStaticKey, wireRecorder } from "./wire-recorder.js";

const ORG = 5151n;
const APP = 9n;
const MARKER = `fs-marker-${hex(key32())}`;
const dir = tempDir("e2e-transport-fs");
const serverStatic = x25519();
const _backend = resolveBackend("native");

let petsem: RunningService;
let writer: string;
const { recorded, fetch: recordingFetch } = wireRecorder();

function confine(token: string): string {
  const parsed = parseAuthorizationHeader(token);
  const m = parsed[0]?.kind === "macaroon" ? parsed[0].macaroon : undefined;
  if (!m) throw new Error("writer token did not parse");
  const child = Macaroon.decodeUnverified(m.encode());
  child.add(new SecretScope(ORG, APP));
  return encodeAuthorizationHeader([child]);
}

beforeAll(async () => {
  const env = {
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir.path, "petsem"),
    PETSEM_KEK: hex(key32()),
    PETSEM_NOISE_KEY: hex(serverStatic.secretKey),
  };
  petsem = await startService("petsem", env);
  const minted = await cli("petsem", ["token", "mint", "--writer"], env);
  expect(minted.code).toBe(0);
  writer = confine(minted.stdout.trim());
}, 60_000);

afterAll(async () => {
  await petsem?.stop();
  dir.remove();
});

describe("petsem requests are forward secret", () => {
  it("a recorded `set` cannot be decrypted with the server's static key alone: the value and the token are in no message 1", async () => {
    const client = new PetsemClient({
      endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }],
      fetch: recordingFetch,
    });
    const w = await client.set(writer, ORG, APP, { DATABASE_URL: MARKER });
    expect(w.app_version).toBe(1);
    const opened = recorded.map((r) => openWithStaticKey(r, serverStatic));
    // Nothing the static key opens contains the value (before the fix: the set's message 1 did).
    for (const p of opened) if (p !== null) expect(p.includes(MARKER), "value in a message 1").toBe(false);
    expect(recorded.length).toBeGreaterThanOrEqual(2);
    // The session-opening message 1 decrypts with the static key, and says nothing.
    const handshakes = opened.filter((p): p is string => p !== null);
    expect(handshakes.length).toBeGreaterThanOrEqual(1);
    for (const p of handshakes) {
      expect(Object.keys(JSON.parse(p)).sort()).toEqual(["op", "rid", "ts", "v"]);
      expect(JSON.parse(p).op).toBe("session");
    }
    // Nor the writer token.
    for (const p of handshakes) expect(p.includes(writer.slice(6, 60))).toBe(false);
    // The request that carried them is a transport message: it does not open as a message 1,
    // and its bytes hold neither in the clear.
    const transport = recorded.filter((r) => r.headers["noise-session"] !== undefined);
    expect(transport.length).toBeGreaterThanOrEqual(1);
    for (const r of transport) {
      expect(openWithStaticKey(r, serverStatic)).toBeNull();
      expect(Buffer.from(r.body).includes(MARKER)).toBe(false);
    }
  }, 60_000);

  it("a `set` sent in message 1 anyway (a downgrade) is refused with forward_secrecy_required and writes nothing", async () => {
    const err = await noiseCall({
      url: petsem.url,
      api: "secrets",
      op: "set",
      pattern: "IK",
      serverPublicKey: petsem.publicKey,
      mode: "request",
      args: { token: writer, org: String(ORG), app: String(APP), values: { DOWNGRADED: MARKER } },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoiseRemoteError);
    expect((err as NoiseRemoteError).code).toBe("forward_secrecy_required");
    const client = new PetsemClient({ endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }] });
    const listed = await client.list(writer, ORG, APP);
    expect(listed.secrets.map((s) => s.name)).toEqual(["DATABASE_URL"]);
  }, 60_000);

  it("the client refuses to send `set` in per-request mode at all", async () => {
    const before = recorded.length;
    const client = new PetsemClient({
      endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }],
      fetch: recordingFetch,
      mode: "request",
    });
    await expect(client.set(writer, ORG, APP, { X: MARKER })).rejects.toThrow(/only in a session/);
    expect(recorded.length).toBe(before);
  }, 30_000);
});
