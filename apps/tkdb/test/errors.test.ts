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
  it("every tkdb error is a ServiceError under its canonical code, with tkdb's old name kept as its alias", () => {
    for (const c of CODES) {
      const e = new TkdbError(c, "m");
      expect(e).toBeInstanceOf(ServiceError);
      expect(e.tkdbCode).toBe(c);
      expect(e.code).toBe(c === "bad_request" ? "invalid_request" : canonicalCode(c));
      expect(e.alias).toBe(e.code === c ? undefined : c);
      expect(codeIs(c, e.code)).toBe(true);
    }
  });

  it("ops send the canonical code with the old name as alias and the allow-listed details; other errors pass through untouched", () => {
    const wire = forWire(new TkdbError("bad_token", "no permission token")) as {
      code: string;
      message: string;
      alias?: string;
    };
    expect(wire).toMatchObject({ code: "unauthorized", alias: "bad_token", message: "no permission token" });
    expect(codeIs(wire, "bad_token")).toBe(true);
    expect(codeIs(wire, "unauthorized")).toBe(true);
    expect(codeIs(wire, "verification_failed")).toBe(false);
    expect(forWire(new TkdbError("bad_request", "m"))).toMatchObject({
      code: "invalid_request",
      alias: "bad_request",
    });
    expect(forWire(new NotPrimaryError("node-a"))).toMatchObject({
      code: "not_primary",
      details: { primary: "node-a" },
    });
    expect((forWire(new TkdbError("revoked", "m")) as { alias?: string }).alias).toBeUndefined();
    const other = new Error("x");
    expect(forWire(other)).toBe(other);
  });

  it("server failures (wrong_kek, storage, config) reach the Noise handler without a code, so the client gets a bare internal", () => {
    for (const c of ["wrong_kek", "storage", "config"] as const) {
      const out = forWire(new TkdbError(c, "m")) as { code?: unknown };
      expect(out).toBeInstanceOf(Error);
      expect(out.code).toBeUndefined();
    }
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
