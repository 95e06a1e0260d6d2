/** src/rpc/: the op table, in-process (no Noise): what a refusal carries to a client. */
import type { NoiseOpContext } from "@tkdb/noise";
import { describe, expect, it } from "vitest";
import { PetsemError } from "../src/errors.js";
import { type Authorizer, petsemOps } from "../src/rpc/index.js";
import type { AuditedSecrets } from "../src/rpc/types.js";

const allowAll: Authorizer = { authorize: () => ({ actor: "test" }) };

function storeThrowing(e: unknown): AuditedSecrets {
  const fail = () => Promise.reject(e);
  return { set: fail, unset: fail, rollback: fail, list: fail, deploy: fail, history: fail, resolve: fail };
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

async function refusal(store: AuditedSecrets, args: Record<string, unknown>): Promise<unknown> {
  const ops = petsemOps({ store, authorizer: allowAll });
  return (ops.list as (c: NoiseOpContext) => Promise<unknown>)(ctx(args)).then(
    () => "ok",
    (e: unknown) => e,
  );
}

const ARGS = { token: "FlyV1 x", org: "7", app: "42" };

describe("petsem RPC ops", () => {
  it("a server-side failure (wrong_kek, config, backup) reaches the Noise handler without a code, which answers a bare internal and logs it", async () => {
    for (const code of ["wrong_kek", "config", "backup"] as const) {
      const cause = new PetsemError(code, "PETSEM_KEK does not open /data/x");
      const e = (await refusal(storeThrowing(cause), ARGS)) as Error & { code?: unknown };
      expect(e).toBeInstanceOf(Error);
      // No code: @tkdb/noise answers `internal` ("internal error") and reports the error to the log.
      expect(e.code).toBeUndefined();
      expect(e.cause).toBe(cause);
    }
  });

  it("refusals keep their code, fixed message and details; bad arguments are invalid_request naming the argument", async () => {
    const cas = new PetsemError("cas_mismatch", "check-and-set failed", { details: { current_version: 2 } });
    // The wire form: code, fixed message and the allow-listed details the client receives.
    expect(await refusal(storeThrowing(cas), ARGS)).toMatchObject({
      code: "cas_mismatch",
      message: "check-and-set failed",
      details: { current_version: 2 },
    });
    const bad = (await refusal(storeThrowing(cas), { ...ARGS, org: "0x7" })) as PetsemError;
    expect([bad.code, bad.message]).toEqual(["invalid_request", "org must be an id in 1..2^64-1"]);
    const noToken = (await refusal(storeThrowing(cas), { org: "7", app: "42" })) as PetsemError;
    expect(noToken.code).toBe("unauthorized");
  });
});
