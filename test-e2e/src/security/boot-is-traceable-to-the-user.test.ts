/**
 * Security issue 12, item 8: a read of secrets is traceable to the user who caused it. At bea118d
 * tkdb's discharge carried no identity and petsem's audit named only its own reader token, so a
 * boot could not be tied to a user. Now tkdb's discharge carries the user's FlyioUserID (from the
 * trusted login discharge) and the user token's nonce; tkdb audits the discharge it issued, and
 * petsem audits each resolve with the user, the user token's nonce and the discharge's nonce. The
 * two audit trails join on the discharge's nonce, and both name the user.
 */
import { createHash } from "node:crypto";
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

    // tkdb's log (@tkdb/audit): the discharge's durable intent names the user (from the trusted
    // login discharge), the user token's nonce and the discharge by its hashed nonce.
    const tkdbDischarges = (await exported("tkdb", stack.tkdbEnv)).filter(
      (d) => d.op === "discharge" && d.kind === "intent" && d.user === USER.toString(),
    );
    expect(tkdbDischarges).toHaveLength(1);
    const issued = tkdbDischarges[0] as Record<string, unknown>;
    expect(issued.parent_nonce).toBe(userToken);

    const resolves = (await exported("petsem", stack.petsemEnv)).filter(
      (d) => d.op === "resolve" && d.kind === "intent" && d.app === APP.toString(),
    );
    expect(resolves).toHaveLength(1);
    // petsem's log (@tkdb/audit): the resolve's durable intent names the user tkdb's discharge
    // states, and the discharge it was released by as `parent_nonce`, hashed the same way
    // (sha256:<hex of its nonce bytes>: a discharge's key id is the ticket); the user's token
    // nonce is on tkdb's record of that discharge, which this joins.
    const read = resolves[0] as Record<string, unknown>;
    expect(read.user).toBe(USER.toString());
    const ref = (v: unknown) =>
      typeof v === "string" && !v.startsWith("sha256:")
        ? `sha256:${createHash("sha256").update(Buffer.from(v, "base64")).digest("hex")}`
        : v;
    expect(ref(read.parent_nonce)).toBe(issued.nonce);
  }, 120_000);
});
