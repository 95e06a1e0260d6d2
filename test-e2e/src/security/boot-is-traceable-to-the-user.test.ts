/**
 * Security issue 12, item 8: a read of secrets is traceable to the user who caused it. At bea118d
 * tkdb's discharge carried no identity and petsem's audit named only its own reader token, so a
 * boot could not be tied to a user. Now tkdb's discharge carries the user's FlyioUserID (from the
 * trusted login discharge) and the user token's nonce; tkdb audits the discharge it issued, and
 * petsem audits each resolve with the user, the user token's nonce and the discharge's nonce. The
 * two audit trails join on the discharge's nonce, and both name the user.
 */
import { base64Encode } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boot, loginUser, writerFor } from "../flow.js";
import { cli } from "../harness.js";
import { type Stack, startStack } from "../reliability/stack.js";

const ORG = 5505n;
const APP = 6n;
const USER = 424242n;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack("e2e-traceable");
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** The documents of an OpenSearch bulk export (every second line). */
async function exported(
  app: "tkdb" | "petsem",
  env: Record<string, string>,
): Promise<Record<string, unknown>[]> {
  const out = await cli(app, ["audit", "export"], env);
  expect(out.code, out.stderr).toBe(0);
  return out.stdout
    .trim()
    .split("\n")
    .filter((_, i) => i % 2 === 1)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("a machine boot is traceable to the user in both services' audit trails", () => {
  it("tkdb's discharge record and petsem's resolve record both name user U and join on the discharge nonce", async () => {
    const a = stack.actors;
    const user = await loginUser(a, ORG, USER);
    await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { DATABASE_URL: "postgres://db" });
    await boot(a, user.header, ORG, APP, 1);
    const userToken = base64Encode(user.permission.nonce.encode());

    const tkdbDischarges = (await exported("tkdb", stack.tkdbEnv))
      .filter((d) => d.op === "discharge")
      .map((d) => d.details as Record<string, unknown>)
      .filter((d) => d.userId === USER.toString());
    expect(tkdbDischarges).toHaveLength(1);
    const issued = tkdbDischarges[0] as Record<string, unknown>;
    expect(issued.user).toBe(userToken);

    const resolves = (await exported("petsem", stack.petsemEnv)).filter(
      (d) => d.op === "resolve" && d.kind === "intent" && d.app === APP.toString(),
    );
    expect(resolves).toHaveLength(1);
    const read = (resolves[0] as { detail: Record<string, unknown> }).detail;
    expect(read.user).toBe(USER.toString());
    expect(read.user_token).toBe(userToken);
    expect(read.discharge).toBe(issued.nonce);
  }, 120_000);
});
