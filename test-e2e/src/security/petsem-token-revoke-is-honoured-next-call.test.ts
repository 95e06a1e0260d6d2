/**
 * Security issue 12, item 7: petsem tokens can be revoked. At bea118d nothing could revoke a
 * petsem token: a leaked writer or reader token stayed good forever. Now `petsem token revoke`
 * (a local command on the primary, audited) puts the token's nonce on petsem's blacklist, and the
 * very next call with that token, or any attenuation of it, is refused; other tokens are not.
 */
import { SecretScope } from "@tkdb/caveats";
import { PetsemClient } from "@tkdb/client";
import { base64Encode, encodeAuthorizationHeader } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FlowActors, loginUser, one, resolveForBoot } from "../flow.js";
import { cli } from "../harness.js";
import { type Stack, startStack } from "../reliability/stack.js";

const ORG = 5101n;
const APP = 12n;
const USER = 71n;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack("e2e-petsem-revoke");
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

async function mint(kind: "--writer" | "--reader"): Promise<string> {
  const r = await cli("petsem", ["token", "mint", kind], stack.petsemEnv);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function revoke(args: string[]): Promise<{ nonce: string; revoked: boolean }> {
  const r = await cli("petsem", ["token", "revoke", ...args], stack.petsemEnv);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { nonce: string; revoked: boolean };
}

function confined(token: string): string {
  const m = one(token);
  m.add(new SecretScope(ORG, APP));
  return encodeAuthorizationHeader([m]);
}

describe("petsem token revocation is honoured by the next call", () => {
  it("a writer revoked with --token is refused on its next set and list, attenuated or not; another writer is not", async () => {
    const { secrets } = stack.actors;
    const writer = await mint("--writer");
    const other = await mint("--writer");
    await secrets.set(confined(writer), ORG, APP, { DATABASE_URL: "v1" });
    expect((await secrets.list(confined(writer), ORG, APP)).app_version).toBe(1);

    const r = await revoke(["--token", writer]);
    expect(r).toEqual({ nonce: base64Encode(one(writer).nonce.encode()), revoked: true });

    expect(await codeOf(secrets.list(confined(writer), ORG, APP))).toBe("unauthorized");
    expect(await codeOf(secrets.list(`FlyV1 ${writer}`, ORG, APP))).toBe("unauthorized");
    expect(await codeOf(secrets.set(confined(writer), ORG, APP, { DATABASE_URL: "v2" }))).toBe(
      "unauthorized",
    );
    expect((await secrets.list(confined(other), ORG, APP)).app_version).toBe(1);
    // revoking again changes nothing and says so
    expect((await revoke(["--token", writer])).revoked).toBe(false);
  }, 120_000);

  it("a reader revoked with --nonce cannot boot a machine on its next resolve, even with a fresh tkdb discharge", async () => {
    const reader = await mint("--reader");
    const actors: FlowActors = { ...stack.actors, reader: one(reader) };
    const user = await loginUser(actors, ORG, USER);
    await actors.secrets.set(confined(stack.actors.writer), ORG, APP, { BOOT: "yes" });
    const before = await resolveForBoot(actors, user.header, ORG, APP, 1);
    expect(before.BOOT).toBe("yes");

    await revoke(["--nonce", base64Encode(one(reader).nonce.encode())]);

    const err = await resolveForBoot(actors, user.header, ORG, APP, 1).catch((e: unknown) => e);
    expect((err as { code?: unknown }).code).toBe("unauthorized");
    // the stack's own reader (another nonce) still boots
    expect((await resolveForBoot(stack.actors, user.header, ORG, APP, 1)).BOOT).toBe("yes");
  }, 120_000);

  it("each revocation is in petsem's audit (the nonce and who ran it), and the chain verifies", async () => {
    const writer = await mint("--writer");
    const { nonce } = await revoke(["--token", writer]);
    const out = await cli("petsem", ["audit", "export"], stack.petsemEnv);
    expect(out.code, out.stderr).toBe(0);
    const docs = out.stdout
      .trim()
      .split("\n")
      .filter((_, i) => i % 2 === 1)
      .map((l) => JSON.parse(l) as { op: string; kind: string; nonce?: string; actor?: string });
    const intent = docs.find((d) => d.op === "revoke" && d.kind === "intent" && d.nonce === nonce);
    expect(intent?.actor).toMatch(/^cli:/);
    expect(out.stdout).not.toContain(writer.slice(5, 60));
    const verified = await cli("petsem", ["audit", "verify"], stack.petsemEnv);
    expect(verified.code, verified.stderr).toBe(0);
    // the PetsemClient of another process sees the same: nothing is cached per connection
    const fresh = new PetsemClient({
      endpoints: [{ url: stack.petsem.url, serverPublicKey: stack.petsem.publicKey }],
    });
    expect(await codeOf(fresh.list(confined(writer), ORG, APP))).toBe("unauthorized");
  }, 120_000);
});
