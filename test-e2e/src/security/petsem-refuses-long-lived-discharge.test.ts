/**
 * Security issue 12, item 7: a discharge lives at most 5 minutes. At bea118d petsem accepted any
 * tkdb discharge that had some ValidityWindow, so a discharge made with a TTL of a day (a
 * misconfigured tkdb, or anyone holding the shared key) released secrets all day. petsem now
 * refuses a tkdb discharge any of whose windows spans more than 5 minutes, whatever tkdb's TTL.
 * The test holds the key tkdb shares with petsem and forges such discharges itself; everything
 * else about them (scope, the user, the user token's nonce) is exactly what tkdb writes.
 */
import { FlyioUserID, flyRegistry, SecretScope, UserTokenNonce } from "@tkdb/caveats";
import { dischargeTicket, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUser, TKDB_LOCATION, writerFor } from "../flow.js";
import { type Stack, startStack } from "../reliability/stack.js";

const ORG = 5303n;
const APP = 9n;
const USER = 404n;

let stack: Stack;
let userNonce: Uint8Array;

beforeAll(async () => {
  stack = await startStack("e2e-long-discharge");
  const a = stack.actors;
  await a.admin.orgCreate(ORG);
  userNonce = (await loginUser(a, ORG, USER)).permission.nonce.encode();
  await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { API_KEY: "k" });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** A discharge of the reader's tkdb caveat, as tkdb makes one, valid from 5 s ago for `seconds`. */
function forged(seconds: number): string {
  const ticket = stack.actors.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("reader has no tkdb caveat");
  const { discharge } = dischargeTicket(stack.keys.petsemShared, TKDB_LOCATION, ticket, {
    registry: flyRegistry,
  });
  const now = BigInt(Math.floor(Date.now() / 1000));
  discharge.add(
    new ValidityWindow(now - 5n, now - 5n + BigInt(seconds)),
    new SecretScope(ORG, APP),
    new UserTokenNonce(userNonce),
    new FlyioUserID(USER),
  );
  return `FlyV1 ${stack.actors.reader.toString()},${discharge.toString()}`;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

describe("petsem refuses a long-lived discharge", () => {
  it("a discharge valid for more than 5 minutes is refused; the same one valid for 5 minutes resolves", async () => {
    const { secrets } = stack.actors;
    expect(await codeOf(secrets.resolve(forged(300), ORG, APP, 1))).toBe("ok");
    expect(await codeOf(secrets.resolve(forged(301), ORG, APP, 1))).toBe("forbidden");
    expect(await codeOf(secrets.resolve(forged(3600), ORG, APP, 1))).toBe("forbidden");
    expect(await codeOf(secrets.resolve(forged(86_400), ORG, APP, 1))).toBe("forbidden");
  }, 60_000);
});
