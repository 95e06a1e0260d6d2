/** src/rpc/: the op table, in-process (no Noise): what a refusal carries to a client. */
import type { NoiseOpContext } from "@tkdb/noise";
import { describe, expect, it } from "vitest";
import { PetsemError } from "../src/errors.js";
import { type Authorizer, petsemOps, type SecretsStore } from "../src/rpc/index.js";

const allowAll: Authorizer = { authorize: () => ({ actor: "test" }) };

function storeThrowing(e: unknown): SecretsStore {
  const fail = () => {
    throw e;
  };
  return { set: fail, unset: fail, rollback: fail, list: fail, resolve: fail };
}

function ctx(args: Record<string, unknown>): NoiseOpContext {
  return {
    op: "list",
    rid: "r1",
    args,
    clientKeyBase64Url: "k",
    correlationId: "c",
  } as unknown as NoiseOpContext;
}

async function refusal(store: SecretsStore, args: Record<string, unknown>): Promise<unknown> {
  const ops = petsemOps({ store, authorizer: allowAll });
  return (ops.list as (c: NoiseOpContext) => Promise<unknown>)(ctx(args)).then(
    () => "ok",
    (e: unknown) => e,
  );
}

const ARGS = { token: "FlyV1 x", org: "7", app: "42" };

describe("petsem RPC ops", () => {
  it("a server-side failure (wrong_kek, config, backup) reaches the client as a bare internal, never its message", async () => {
    for (const code of ["wrong_kek", "config", "backup"] as const) {
      const e = (await refusal(
        storeThrowing(new PetsemError(code, "PETSEM_KEK does not open /data/x")),
        ARGS,
      )) as PetsemError;
      expect([e.code, e.message]).toEqual(["internal", "internal error"]);
    }
  });

  it("refusals keep their code and fixed message; bad arguments are invalid_request naming the argument", async () => {
    const cas = new PetsemError("cas_mismatch", "check-and-set failed", { details: { current_version: 2 } });
    expect(await refusal(storeThrowing(cas), ARGS)).toBe(cas);
    const bad = (await refusal(storeThrowing(cas), { ...ARGS, org: "0x7" })) as PetsemError;
    expect([bad.code, bad.message]).toEqual(["invalid_request", "org must be an id in 1..2^64-1"]);
    const noToken = (await refusal(storeThrowing(cas), { org: "7", app: "42" })) as PetsemError;
    expect(noToken.code).toBe("unauthorized");
  });
});
