/**
 * Security issue 12, item 8 (petsem side): only tkdb says who the user is. petsem names the user
 * of each resolve in its audit, and takes that name only from attestations on the discharge of the
 * reader's tkdb caveat (a ticket sealed with the key petsem shares with tkdb). A user id the holder
 * of a reader token adds themselves (`IsUser` appended to the reader, or a `FlyioUserID` on a
 * discharge of a third-party caveat the holder added and discharged) is never taken as the user;
 * without tkdb's discharge, the holder's own discharges release nothing.
 * At bea118d tkdb's discharge named no user at all, so no resolve was traceable to the real user.
 */
import { randomBytes } from "node:crypto";
import { FlyioUserID, flyRegistry, IsUser, UserTokenNonce } from "@tkdb/caveats";
import { dischargeTicket, type Macaroon, Nonce } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUser, one, TKDB_LOCATION, writerFor } from "../flow.js";
import { cli } from "../harness.js";
import { type Stack, startStack } from "../reliability/stack.js";

const ORG = 5404n;
const USER = 1001n;
const IMPOSTOR = 666n;
const APPS = { isUser: 21n, foreign3P: 22n, noTkdb: 23n } as const;

let stack: Stack;
let userHeader: string;

beforeAll(async () => {
  stack = await startStack("e2e-attestations");
  const a = stack.actors;
  await a.admin.orgCreate(ORG);
  userHeader = (await loginUser(a, ORG, USER)).header;
  for (const app of Object.values(APPS)) await a.secrets.set(writerFor(a, ORG, app), ORG, app, { S: "v" });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** A copy of the stack's reader token, to attenuate. */
function reader(): Macaroon {
  return one(stack.actors.reader.toString());
}

/** tkdb's real discharge of `r`'s tkdb caveat, for USER's token. */
async function tkdbDischarge(r: Macaroon, app: bigint): Promise<string> {
  const ticket = r.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("no tkdb caveat");
  return stack.actors.flyd.discharge({ ticket, userHeader, org: ORG, app });
}

/** The holder's own third-party caveat at `location`, discharged by the holder with an impostor. */
function holderDischarge(r: Macaroon, location: string): string {
  const key = new Uint8Array(randomBytes(32));
  const ticket = r.add3P(key, location);
  const { discharge } = dischargeTicket(key, location, ticket, { registry: flyRegistry });
  discharge.add(
    new FlyioUserID(IMPOSTOR),
    new UserTokenNonce(Nonce.create(new Uint8Array(8), false).encode()),
  );
  return discharge.toString();
}

/** An exported audit document (@tkdb/audit: flat identity fields; `user` from tkdb's discharge). */
type Doc = { op: string; kind: string; app: string; user?: string };

async function resolveIntents(): Promise<Doc[]> {
  const out = await cli("petsem", ["audit", "export"], stack.petsemEnv);
  expect(out.code, out.stderr).toBe(0);
  return out.stdout
    .trim()
    .split("\n")
    .filter((_, i) => i % 2 === 1)
    .map((l) => JSON.parse(l) as Doc)
    .filter((d) => d.op === "resolve" && d.kind === "intent");
}

describe("petsem takes the user only from tkdb's discharge", () => {
  it("IsUser appended to the reader, or a FlyioUserID on the holder's own discharge, is never the user", async () => {
    const { secrets } = stack.actors;
    const r1 = reader();
    r1.add(new IsUser(IMPOSTOR));
    const h1 = `FlyV1 ${r1.toString()},${await tkdbDischarge(r1, APPS.isUser)}`;
    expect((await secrets.resolve(h1, ORG, APPS.isUser, 1)).secrets).toHaveLength(1);

    const r2 = reader();
    const own = holderDischarge(r2, "https://approvals.example/v1");
    const h2 = `FlyV1 ${r2.toString()},${await tkdbDischarge(r2, APPS.foreign3P)},${own}`;
    expect((await secrets.resolve(h2, ORG, APPS.foreign3P, 1)).secrets).toHaveLength(1);

    const intents = await resolveIntents();
    for (const app of [APPS.isUser, APPS.foreign3P]) {
      const mine = intents.filter((d) => d.app === app.toString());
      expect(mine.length).toBeGreaterThan(0);
      for (const d of mine) expect(d.user).toBe(USER.toString());
    }
    expect(intents.some((d) => d.user === IMPOSTOR.toString())).toBe(false);
  }, 120_000);

  it("the holder's own discharge naming an impostor, without tkdb's discharge, releases nothing", async () => {
    const r = reader();
    const own = holderDischarge(r, "https://approvals.example/v1");
    const header = `FlyV1 ${r.toString()},${own}`;
    await expect(stack.actors.secrets.resolve(header, ORG, APPS.noTkdb, 1)).rejects.toMatchObject({
      code: "unauthorized",
    });
    expect((await resolveIntents()).some((d) => d.user === IMPOSTOR.toString())).toBe(false);
  }, 120_000);
});
