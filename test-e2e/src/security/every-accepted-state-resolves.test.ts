/**
 * Security issue 12 item 6: an app cannot be made unbootable. At bea118d petsem accepted 500
 * secrets of 64 KiB while a response was capped at 4 MiB, so `resolve` of such an app failed and
 * no machine of it could boot. petsem now bounds the count of live secrets and the size of each so
 * that the worst case always fits what `resolve` returns (values travel as base64; apps/petsem
 * README "Limits"). This test builds that worst case through the wire, as a writer can (every
 * live secret at the size limit, 255-character names, bytes that JSON would escape), shows that one
 * more secret, one more byte, or a rollback that revives one more name is refused, and that a boot
 * resolve returns every value byte-exact.
 */
import { PetsemClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUser, one, TKDB_LOCATION, writerFor } from "../flow.js";
import { type Stack, startStack } from "../reliability/stack.js";

/** apps/petsem/src/validate.ts LIMITS (the refusals below check that these are the real ones). */
const MAX_SECRETS = 256;
const MAX_VALUE_BYTES = 32 * 1024;

const ORG = 4711n;
const APP = 17n;
const USER = 3003n;

let stack: Stack;
let client: PetsemClient;

beforeAll(async () => {
  stack = await startStack("e2e-every-state-resolves");
  await stack.actors.admin.orgCreate(ORG);
  const p = stack.petsem;
  // generous per-attempt timeout: a busy 2-core machine moves ~11 MB through Noise here
  client = new PetsemClient({ endpoints: [{ url: p.url, serverPublicKey: p.publicKey }], timeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** The longest legal name (255 characters), distinct per index. */
const nameOf = (i: number) => `S${String(i).padStart(3, "0")}${"_".repeat(251)}`;

/**
 * Exactly MAX_VALUE_BYTES of UTF-8, distinct per index: control characters, quotes, backslashes
 * and multi-byte characters (what JSON escapes or widens), then filler. The escaped part is kept
 * small so that each `set` still fits one Noise request.
 */
function secretValue(i: number): string {
  const head = `${i}\u0000\u0001\u001f\u007f"\\\n\t</script>\u2028é€😀`.repeat(8);
  const filler = "abcdefghijklmnopqrstuvwxyz0123456789-_".repeat(Math.ceil(MAX_VALUE_BYTES / 38));
  const v = head + filler.slice(0, MAX_VALUE_BYTES - Buffer.byteLength(head));
  expect(Buffer.byteLength(v)).toBe(MAX_VALUE_BYTES);
  return v;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof NoiseRemoteError) return e.code;
    throw e;
  }
}

/** What flyd does at boot: a tkdb discharge for the user's token, then resolve every secret. */
async function bootResolve(minVersion: number) {
  const user = await loginUser(stack.actors, ORG, USER);
  const ticket = stack.actors.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("reader token has no tkdb caveat");
  const discharge = await stack.actors.flyd.discharge({
    ticket,
    userHeader: user.header,
    org: ORG,
    app: APP,
  });
  const header = encodeAuthorizationHeader([stack.actors.reader, one(discharge)]);
  return client.resolve(header, ORG, APP, minVersion);
}

async function expectResolvesExactly(written: Map<string, string>, appVersion: number): Promise<void> {
  const r = await bootResolve(appVersion);
  expect(r.app_version).toBe(appVersion);
  expect(r.secrets.length).toBe(written.size);
  const got = new Map(r.secrets.map((s) => [s.name, s.value]));
  expect([...got.keys()].sort()).toEqual([...written.keys()].sort());
  for (const [name, value] of written) {
    const v = got.get(name) as string;
    expect(Buffer.byteLength(v), name.slice(0, 4)).toBe(MAX_VALUE_BYTES);
    expect(v === value, name.slice(0, 4)).toBe(true); // byte-exact, without printing 32 KiB
  }
}

describe("every state a write accepted resolves", () => {
  it("an app filled to the count and size limits resolves in full, every value byte-exact; no write goes past them", async () => {
    const w = writerFor(stack.actors, ORG, APP);
    const written = new Map<string, string>();
    let appVersion = 0;
    for (let i = 0; i < MAX_SECRETS; i++) {
      const r = await client.set(w, ORG, APP, { [nameOf(i)]: secretValue(i) });
      written.set(nameOf(i), secretValue(i));
      appVersion = r.app_version;
    }
    expect((await client.list(w, ORG, APP)).secrets.length).toBe(MAX_SECRETS);
    await expectResolvesExactly(written, appVersion);

    // the writer cannot go past that worst case: one more secret, one more byte, one more revived name
    expect(await codeOf(client.set(w, ORG, APP, { EXTRA: "x" }))).toBe("too_many");
    expect(await codeOf(client.set(w, ORG, APP, { [nameOf(1)]: `${secretValue(1)}x` }))).toBe("too_large");
    await client.unset(w, ORG, APP, [nameOf(0)]);
    await client.set(w, ORG, APP, { [nameOf(MAX_SECRETS)]: secretValue(MAX_SECRETS) });
    written.delete(nameOf(0));
    written.set(nameOf(MAX_SECRETS), secretValue(MAX_SECRETS));
    expect(await codeOf(client.rollback(w, ORG, APP, nameOf(0), 1))).toBe("too_many");
    appVersion = (await client.list(w, ORG, APP)).app_version;
    await expectResolvesExactly(written, appVersion);
  }, 600_000);
});
