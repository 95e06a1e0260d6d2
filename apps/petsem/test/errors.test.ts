/** petsem's errors are the shared vocabulary's (packages/service): one tree, one status table. */
import { exitCodeFor, isErrorCode, ServiceError, statusOf, toWire } from "@tkdb/service";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, PetsemError, type PetsemErrorCode } from "../src/errors.js";

const CODES = Object.keys(ERROR_STATUS) as PetsemErrorCode[];

describe("petsem errors", () => {
  it("every petsem code is a shared-vocabulary code with the shared table's status", () => {
    expect(CODES.length).toBeGreaterThan(10);
    for (const code of CODES) {
      expect(isErrorCode(code), code).toBe(true);
      const e = new PetsemError(code, "fixed text");
      expect(e).toBeInstanceOf(ServiceError);
      expect([e.code, e.status, e.name]).toEqual([code, statusOf(code), "PetsemError"]);
    }
  });

  it("server-side failures never reach a client as themselves; refusals keep their code and allow-listed details", () => {
    for (const code of ["config", "wrong_kek", "backup"] as const)
      expect(toWire(new PetsemError(code, "PETSEM_KEK is wrong"))).toEqual({
        code: "internal",
        message: "internal error",
      });
    const cas = new PetsemError("cas_mismatch", "check-and-set failed", {
      details: { current_version: 3, name: "DATABASE_URL" },
    });
    expect(toWire(cas)).toEqual({
      code: "cas_mismatch",
      message: "check-and-set failed",
      details: { current_version: 3 },
    });
  });

  it("the CLI exit code follows the code: config is usage (2), unavailable is unreachable (3), refusals 1", () => {
    expect(exitCodeFor(new PetsemError("config", "x"))).toBe(2);
    expect(exitCodeFor(new PetsemError("unavailable", "x"))).toBe(3);
    expect(exitCodeFor(new PetsemError("integrity", "x"))).toBe(1);
    expect(exitCodeFor(new PetsemError("wrong_kek", "x"))).toBe(1);
  });
});
