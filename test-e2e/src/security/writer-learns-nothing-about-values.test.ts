/**
 * Security issue 12 item 1: a writer token, used without limit, learns nothing about whether a
 * value it chooses equals a stored value (DESIGN.md "petsem"; secrets-model.md P11, P19).
 *
 * At bea118d digests were HMAC(per-app key, value), `set` of an equal value answered
 * `changed:false` without a new version, and `rollback` to an equal value was a no-op: a writer
 * recovered a 4-digit PIN in a few calls. Here the writer runs that attack through every route it
 * has (cross-name digests, same-name rewrite, `cas`, `rollback`, `unset`, `list`, errors), and a
 * fast-check property compares its whole transcript when its guess is the PIN and when it is not:
 * after each digest is replaced by the index of its first appearance (and times by a placeholder),
 * the transcripts are equal.
 */
import { join } from "node:path";
import { SecretScope } from "@tkdb/caveats";
import { PetsemClient } from "@tkdb/client";
import { encodeAuthorizationHeader, Macaroon, parseAuthorizationHeader } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";

const ORG = 9001n;
const dir = tempDir("e2e-writer-learns");
let petsem: RunningService;
let client: PetsemClient;
let writer: string;
let nextApp = 1000n;

beforeAll(async () => {
  // petsem alone: the writer needs no tkdb (without a tkdb shared key petsem cannot resolve at all)
  const env = {
    PETSEM_HOST: "127.0.0.1",
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir.path, "petsem"),
    PETSEM_KEK: hex(key32()),
    PETSEM_NOISE_KEY: hex(x25519().secretKey),
  };
  petsem = await startService("petsem", env, 60_000);
  const minted = await cli("petsem", ["token", "mint", "--writer"], env);
  expect(minted.code).toBe(0);
  writer = minted.stdout.trim();
  client = new PetsemClient({
    endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }],
    timeoutMs: 30_000,
  });
}, 120_000);

afterAll(async () => {
  await petsem?.stop();
  dir.remove();
});

/** What the API server sends per request: its writer token confined to one org and app. */
function writerFor(org: bigint, app: bigint): string {
  const parsed = parseAuthorizationHeader(writer);
  const m = parsed[0]?.kind === "macaroon" ? parsed[0].macaroon : undefined;
  if (!m) throw new Error("writer token did not parse");
  const child = Macaroon.decodeUnverified(m.encode());
  child.add(new SecretScope(org, app));
  return encodeAuthorizationHeader([child]);
}

const DIGEST = /^(?:[a-z0-9-]+:)?[0-9a-f]{32}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/** Every digest → its first-appearance index; every time → a placeholder. */
function canonical(transcript: unknown): unknown {
  const seen = new Map<string, number>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (DIGEST.test(v)) {
        if (!seen.has(v)) seen.set(v, seen.size);
        return `digest#${seen.get(v)}`;
      }
      return ISO_TIME.test(v) ? "<time>" : v;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(transcript);
}

type Entry = { step: string; ok?: unknown; error?: { code: string; message: string } };

async function record(t: Entry[], step: string, call: Promise<unknown>): Promise<void> {
  try {
    t.push({ step, ok: await call });
  } catch (e) {
    if (!(e instanceof NoiseRemoteError)) throw e;
    t.push({ step, error: { code: e.code, message: e.message } });
  }
}

/**
 * The victim's PIN is set on a fresh app; then everything the writer sees while it plays its guess
 * through every route. The PIN is version 1; the script's version numbers are the ones an honest
 * store gives whatever the guess is.
 */
async function attackTranscript(pin: string, guess: string): Promise<Entry[]> {
  const app = nextApp++;
  const w = writerFor(ORG, app);
  await client.set(w, ORG, app, { PIN: pin }); // the user's secret, set through the API server
  const t: Entry[] = [];
  // cross-name: the guess under scratch names, next to the PIN in the listing
  await record(t, "set scratch", client.set(w, ORG, app, { GUESS: guess }));
  await record(t, "set batch", client.set(w, ORG, app, { GUESS_A: guess, GUESS_B: "not-a-pin" }));
  await record(t, "list", client.list(w, ORG, app));
  // same-name rewrite
  await record(t, "rewrite", client.set(w, ORG, app, { PIN: guess }));
  await record(t, "list", client.list(w, ORG, app));
  // rollback to the victim's version, then rewrite again under check-and-set
  await record(t, "rollback", client.rollback(w, ORG, app, "PIN", 1));
  await record(t, "cas rewrite", client.set(w, ORG, app, { PIN: guess }, { cas: { PIN: 3 } }));
  await record(t, "stale cas", client.set(w, ORG, app, { PIN: guess }, { cas: { PIN: 3 } }));
  await record(t, "create-only", client.set(w, ORG, app, { PIN: guess }, { cas: { PIN: 0 } }));
  await record(t, "guarded", client.set(w, ORG, app, { OTHER: guess }, { expectedAppVersion: 1 }));
  await record(t, "rollback cas", client.rollback(w, ORG, app, "PIN", 1, 4));
  await record(t, "rollback stale cas", client.rollback(w, ORG, app, "PIN", 2, 4));
  await record(t, "list", client.list(w, ORG, app));
  // unset, and revive by rollback
  await record(t, "unset", client.unset(w, ORG, app, ["PIN", "GUESS", "NEVER_SET"]));
  await record(t, "rollback to unset", client.rollback(w, ORG, app, "PIN", 6));
  await record(t, "revive", client.rollback(w, ORG, app, "PIN", 2));
  await record(t, "rollback missing", client.rollback(w, ORG, app, "PIN", 99));
  await record(t, "unset again", client.unset(w, ORG, app, ["GUESS", "GUESS_A"]));
  await record(t, "list", client.list(w, ORG, app));
  return t;
}

const EXPECTED_OUTCOMES = [
  "set scratch:ok",
  "set batch:ok",
  "list:ok",
  "rewrite:ok",
  "list:ok",
  "rollback:ok",
  "cas rewrite:ok",
  "stale cas:cas_mismatch",
  "create-only:cas_mismatch",
  "guarded:cas_mismatch",
  "rollback cas:ok",
  "rollback stale cas:cas_mismatch",
  "list:ok",
  "unset:ok",
  "rollback to unset:not_found",
  "revive:ok",
  "rollback missing:not_found",
  "unset again:ok",
  "list:ok",
];

describe("a writer learns nothing about whether its value equals a stored one", () => {
  it("the PIN attack by digests: 10 000 guesses under scratch names, and no digest ever matches the PIN's", async () => {
    const app = nextApp++;
    const w = writerFor(ORG, app);
    const pin = String(Math.floor(Math.random() * 10_000)).padStart(4, "0");
    await client.set(w, ORG, app, { PIN: pin });
    const pinDigest = (await client.list(w, ORG, app)).secrets.find((s) => s.name === "PIN")?.digest;
    expect(pinDigest).toBeTruthy();
    const hits: string[] = [];
    const digests = new Set<string>([pinDigest as string]);
    const BATCH = 200; // under the live-secret limit, with the PIN
    for (let start = 0; start < 10_000; start += BATCH) {
      const guesses = Array.from({ length: BATCH }, (_, i) => String(start + i).padStart(4, "0"));
      const batch = Object.fromEntries(guesses.map((g) => [`G${g}`, g]));
      const reply = await client.set(w, ORG, app, batch);
      const listed = await client.list(w, ORG, app);
      for (const s of reply.secrets as { name: string; digest: string }[]) {
        if (s.digest === pinDigest) hits.push(s.name);
      }
      for (const s of listed.secrets) {
        if (s.name === "PIN") continue;
        if (s.digest === pinDigest) hits.push(s.name);
        digests.add(s.digest);
      }
      await client.unset(w, ORG, app, Object.keys(batch));
    }
    expect(hits).toEqual([]);
    // every version has its own digest: 10 000 guesses + the PIN, all distinct
    expect(digests.size).toBe(10_001);
  }, 600_000);

  it("property: the writer's transcript through every route is the same whether its guess is the PIN or not", async () => {
    const digit4 = fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, "0"));
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(digit4, digit4).filter(([a, b]) => a !== b),
        async ([pin, other]) => {
          const hit = await attackTranscript(pin, pin);
          const miss = await attackTranscript(pin, other);
          expect(JSON.stringify(hit)).not.toContain(`"${pin}"`); // no value ever comes back
          expect(canonical(hit)).toEqual(canonical(miss));
          // the script really exercises each route (it is not, say, refused wholesale)
          expect(miss.map((e) => `${e.step}:${e.error?.code ?? "ok"}`)).toEqual(EXPECTED_OUTCOMES);
        },
      ),
      { numRuns: 12, seed: Number(process.env.WRITER_SEED ?? 20260812) },
    );
  }, 600_000);
});
