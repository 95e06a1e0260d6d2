/**
 * One error vocabulary on the wire (issue 13): both services send the canonical code (petsem's
 * names), tkdb's old name for the same refusal travels beside it as `alias` (so a client that still
 * matches `bad_token` finds it), and an error's details reach the client through @tkdb/client.
 * Black box: both services as processes, talked to only through @tkdb/client over HTTP/Noise.
 */
import { flyRegistry, SecretScope } from "@tkdb/caveats";
import { encodeAuthorizationHeader, Macaroon, parseAuthorizationHeader } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import { codeIs } from "@tkdb/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./reliability/stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack("e2e-error-vocabulary");
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

async function refusal(p: Promise<unknown>): Promise<NoiseRemoteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof NoiseRemoteError) return err;
  throw new Error(`expected a refusal from the service, got ${String(err)}`);
}

describe("error vocabulary on the wire", () => {
  it("tkdb sends unauthorized for a header without its permission token, with the old name bad_token as alias", async () => {
    const elsewhere = Macaroon.mint({
      key: new Uint8Array(32).fill(1),
      kid: new Uint8Array(16).fill(2),
      location: "https://elsewhere.example/v1",
      registry: flyRegistry,
    });
    const err = await refusal(stack.actors.flyd.verify(`FlyV1 ${elsewhere.toString()}`));
    expect(err.code).toBe("unauthorized");
    expect(err.alias).toBe("bad_token");
    // An old client matching the old name still finds it; a new one asks the canonical question.
    expect(codeIs(err, "bad_token")).toBe(true);
    expect(codeIs(err, "unauthorized")).toBe(true);
  });

  it("tkdb sends not_found for an unknown org, with the old name unknown_org as alias", async () => {
    const err = await refusal(stack.actors.admin.mint(987_654_321n, []));
    expect([err.code, err.alias]).toEqual(["not_found", "unknown_org"]);
    expect(codeIs(err, "unknown_org")).toBe(true);
  });

  it("petsem's cas_mismatch reaches the client with its details (current_app_version)", async () => {
    const org = 4242n;
    const app = 7n;
    const parsed = parseAuthorizationHeader(stack.actors.writer);
    const m = parsed[0]?.kind === "macaroon" ? parsed[0].macaroon : undefined;
    if (!m) throw new Error("writer token did not parse");
    const child = Macaroon.decodeUnverified(m.encode());
    child.add(new SecretScope(org, app));
    const token = encodeAuthorizationHeader([child]);
    await stack.actors.secrets.set(token, org, app, { A: "1" });
    const err = await refusal(
      stack.actors.secrets.set(token, org, app, { A: "2" }, { expectedAppVersion: 0 }),
    );
    expect(err.code).toBe("cas_mismatch");
    expect(codeIs(err, "conflict")).toBe(true);
    expect(err.details).toEqual({ current_app_version: 1 });
  });
});
