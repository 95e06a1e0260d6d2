/** tkdb's errors on the one vocabulary of @tkdb/service, with tkdb's wire names kept as aliases. */
import { canonicalCode, codeIs, exitCodeFor, ServiceError, toWire } from "@tkdb/service";
import { describe, expect, it } from "vitest";
import { ConfigError, forWire, NotPrimaryError, TkdbError, type TkdbErrorCode } from "../src/errors.js";

const CODES: TkdbErrorCode[] = [
  "config",
  "bad_request",
  "bad_token",
  "bad_caveats",
  "unknown_key",
  "unknown_org",
  "verification_failed",
  "revoked",
  "forbidden",
  "idempotency_mismatch",
  "not_primary",
  "wrong_kek",
  "corrupt",
  "audit_broken",
  "storage",
];

describe("tkdb errors", () => {
  it("every tkdb error is a ServiceError whose canonical code is its wire code or the code that alias names", () => {
    for (const c of CODES) {
      const e = new TkdbError(c, "m");
      expect(e).toBeInstanceOf(ServiceError);
      expect(e.wireCode).toBe(c);
      expect(e.code).toBe(canonicalCode(c));
      expect(codeIs(e.wireCode, e.code)).toBe(true);
    }
  });

  it("ops send tkdb's wire code (unchanged for clients) and the message; other errors pass through untouched", () => {
    const wire = forWire(new TkdbError("bad_token", "no permission token")) as {
      code: string;
      message: string;
    };
    expect(wire).toMatchObject({ code: "bad_token", message: "no permission token" });
    const other = new Error("x");
    expect(forWire(other)).toBe(other);
  });

  it("exit codes follow the canonical code: config is usage (2), not_primary unreachable (3), refusals 1", () => {
    expect(exitCodeFor(new ConfigError("TKDB_X is bad"))).toBe(2);
    expect(exitCodeFor(new NotPrimaryError("node-a"))).toBe(3);
    expect(exitCodeFor(new TkdbError("verification_failed", "m"))).toBe(1);
    expect(exitCodeFor(new TkdbError("audit_broken", "m"))).toBe(1);
  });

  it("codes that never go on the wire become a bare internal error in toWire; not_primary names the primary", () => {
    expect(toWire(new TkdbError("wrong_kek", "the KEK does not match"))).toEqual({
      code: "internal",
      message: "internal error",
    });
    expect(toWire(new NotPrimaryError("node-a"))).toMatchObject({
      code: "not_primary",
      details: { primary: "node-a" },
    });
  });
});
