import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CliError, listenRefusal } from "../src/cli-output.js";
import { ConfigError, forWire, parseWireError, ServiceError, toWire, wireDetails } from "../src/errors.js";
import {
  CLIENT_ERROR_CODES,
  type CodeInfo,
  canonicalCode,
  codeIs,
  ERROR_CODE_ALIASES,
  ERROR_CODES,
  type ErrorCode,
  isRetryable,
  statusOf,
} from "../src/errors-codes.js";

const TOKEN = `FlyV1 fm2_${"lJPECAAAAAAAAMiOxBCu2Q9kq7WbqcVtETRSZFkmxBB".repeat(2)}`;
const HEX_KEY = "9f".repeat(32);

describe("error vocabulary", () => {
  it("every code's parent is itself a code, and no chain loops", () => {
    for (const [code, info] of Object.entries(ERROR_CODES) as [ErrorCode, CodeInfo][]) {
      if (info.parent !== undefined) expect(Object.keys(ERROR_CODES)).toContain(info.parent);
      expect(codeIs(code, code)).toBe(true);
    }
  });

  it("petsem's codes keep their names and statuses (petsem clients see no change)", () => {
    const petsem: Record<string, number> = {
      invalid_request: 400,
      invalid_name: 422,
      reserved_name: 422,
      too_large: 413,
      too_many: 413,
      cas_mismatch: 409,
      not_found: 404,
      stale: 503,
      integrity: 500,
      audit_unavailable: 503,
      idempotency_mismatch: 422,
      unauthorized: 401,
      forbidden: 403,
      backup: 500,
      unavailable: 503,
      internal: 500,
      config: 500,
      wrong_kek: 500,
    };
    for (const [code, status] of Object.entries(petsem)) expect(statusOf(code), code).toBe(status);
  });

  it("the Noise layer's codes are in the vocabulary unchanged", () => {
    for (const c of [
      "bad_request",
      "op_mismatch",
      "stale_request",
      "replay",
      "unknown_op",
      "forward_secrecy_required",
      "forbidden",
      "response_too_large",
      "unavailable",
      "internal",
    ])
      expect(canonicalCode(c), c).toBe(c);
  });

  it("tkdb's old codes are accepted as aliases of their new names", () => {
    expect(canonicalCode("bad_token")).toBe("unauthorized");
    expect(canonicalCode("verification_failed")).toBe("unauthorized");
    expect(canonicalCode("unknown_key")).toBe("unauthorized");
    expect(canonicalCode("bad_caveats")).toBe("invalid_request");
    expect(canonicalCode("unknown_org")).toBe("not_found");
    expect(canonicalCode("corrupt")).toBe("integrity");
    expect(canonicalCode("audit_broken")).toBe("integrity");
    for (const old of Object.keys(ERROR_CODE_ALIASES)) expect(CLIENT_ERROR_CODES).toContain(old);
    expect(canonicalCode("no_such_code")).toBeUndefined();
  });

  it("codes that clients match on keep matching: revoked is still revoked, and also unauthorized", () => {
    expect(canonicalCode("revoked")).toBe("revoked");
    expect(canonicalCode("not_primary")).toBe("not_primary");
    expect(canonicalCode("idempotency_mismatch")).toBe("idempotency_mismatch");
    expect(codeIs("revoked", "unauthorized")).toBe(true);
    expect(codeIs("bad_token", "unauthorized")).toBe(true);
    expect(codeIs("not_primary", "unavailable")).toBe(true);
    expect(codeIs("bad_request", "invalid_request")).toBe(true);
    expect(codeIs("cas_mismatch", "conflict")).toBe(true);
    expect(codeIs("forbidden", "unauthorized")).toBe(false);
    expect(codeIs("unauthorized", "revoked")).toBe(false);
    expect(isRetryable("not_primary")).toBe(true);
    expect(isRetryable("forbidden")).toBe(false);
  });

  it("server-failure codes are not offered to clients", () => {
    for (const c of ["config", "wrong_kek", "storage", "backup"]) expect(CLIENT_ERROR_CODES).not.toContain(c);
  });

  it("the README's error table lists every code and alias with its status", () => {
    const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
    for (const [code, info] of Object.entries(ERROR_CODES) as [ErrorCode, CodeInfo][])
      expect(readme, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${info.status} \\|`));
    for (const [old, now] of Object.entries(ERROR_CODE_ALIASES))
      expect(readme, old).toMatch(new RegExp(`\\| \`${old}\` \\| \`${now}\` \\|`));
  });
});

describe("ServiceError and toWire", () => {
  it("carries code, status from the table, details and cause; name is the class name", () => {
    const cause = new Error("inner");
    const e = new ServiceError("cas_mismatch", "check-and-set failed", {
      details: { current_version: 3 },
      cause,
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ServiceError");
    expect(e.status).toBe(409);
    expect(e.cause).toBe(cause);
    expect(toWire(e)).toEqual({
      code: "cas_mismatch",
      message: "check-and-set failed",
      details: { current_version: 3 },
    });
    expect(() => new ServiceError("nope" as ErrorCode, "x")).toThrow(TypeError);
  });

  it("only allow-listed details of the right shape reach the wire", () => {
    const e = new ServiceError("too_large", "value too large", {
      details: {
        limit: 65536,
        name: "DATABASE_URL",
        value: "hunter2",
        field: "values",
        count: -1,
        op: "set;rm",
      },
    });
    expect(toWire(e).details).toEqual({ limit: 65536, field: "values" });
  });

  it("a detail that looks like a token or key never reaches the wire, whatever its key", () => {
    expect(wireDetails({ reason: HEX_KEY })).toBeUndefined();
    expect(wireDetails({ location: `https://x.example/${HEX_KEY}` })).toBeUndefined();
    expect(wireDetails({ location: "https://user:pw@x.example/" })).toBeUndefined();
    expect(wireDetails({ location: "https://api.fly.io/aaa/v1" })).toEqual({
      location: "https://api.fly.io/aaa/v1",
    });
  });

  it("a message that quotes material is scrubbed on the wire", () => {
    const w = toWire(new ServiceError("invalid_request", `bad name ${TOKEN}`));
    expect(w.message).not.toContain("fm2_");
    expect(w.message).toContain("[redacted]");
  });

  it("unknown errors and server failures become a bare internal (nothing from their message)", () => {
    expect(toWire(new Error(`boom ${TOKEN}`))).toEqual({ code: "internal", message: "internal error" });
    expect(toWire({ code: "forbidden", message: "forged" })).toEqual({
      code: "internal",
      message: "internal error",
    });
    expect(toWire(new ServiceError("wrong_kek", "KEK does not open /data/tkdb.db"))).toEqual({
      code: "internal",
      message: "internal error",
    });
    expect(JSON.stringify(new ServiceError("storage", "x", { cause: new Error(TOKEN) }))).not.toContain(
      "fm2_",
    );
  });

  it("ConfigError lists every problem by variable and points to --help", () => {
    const e = new ConfigError(
      [
        { variable: "TKDB_PORT", problem: "must be a port number 0..65535" },
        { variable: "TKDB_KEK", problem: "is required" },
      ],
      { hint: "see --help" },
    );
    expect(e.code).toBe("config");
    expect(e.message).toBe(
      "2 configuration problems: TKDB_PORT: must be a port number 0..65535; TKDB_KEK: is required",
    );
    expect(e.hint).toBe("see --help");
  });
});

describe("parseWireError (client side)", () => {
  it("parses a well-formed error, maps old codes, keeps allow-listed details", () => {
    expect(
      parseWireError({ code: "bad_token", message: "no token", details: { field: "header", x: 1 } }),
    ).toEqual({
      code: "bad_token",
      canonical: "unauthorized",
      message: "no token",
      details: { field: "header" },
    });
    expect(parseWireError({ code: "brand_new", message: "m" })?.canonical).toBeUndefined();
  });

  it("refuses malformed bodies", () => {
    for (const bad of [null, 1, "x", {}, { code: 5 }, { code: "Bad Code" }, { code: "x".repeat(80) }])
      expect(parseWireError(bad)).toBeUndefined();
  });
});

describe("canonical codes with old names as aliases (issue 13)", () => {
  it("toWire sends the canonical code, the old name as alias, and allow-listed details such as current_app_version", () => {
    const e = new ServiceError("cas_mismatch", "app version does not match", {
      details: { current_app_version: 3, secret_value: "x" },
    });
    expect(toWire(e)).toEqual({
      code: "cas_mismatch",
      message: e.message,
      details: { current_app_version: 3 },
    });
    const old = new ServiceError("unauthorized", "no permission token", { alias: "bad_token" });
    expect(toWire(old)).toEqual({ code: "unauthorized", message: "no permission token", alias: "bad_token" });
    expect(parseWireError(toWire(old))).toMatchObject({ canonical: "unauthorized", alias: "bad_token" });
  });

  it("codeIs matches an old name exactly through alias, and the canonical tree through code", () => {
    const wire = { code: "unauthorized", alias: "bad_token" };
    expect(codeIs(wire, "bad_token")).toBe(true);
    expect(codeIs(wire, "unauthorized")).toBe(true);
    expect(codeIs(wire, "verification_failed")).toBe(false);
    expect(codeIs({ code: "revoked" }, "unauthorized")).toBe(true);
    expect(codeIs("bad_token", "bad_token")).toBe(true);
  });

  it("forWire hands the Noise handler a coded refusal, and a server failure without a code (answered internal)", () => {
    const refusal = forWire(new ServiceError("not_primary", "replica", { details: { primary: "node-a" } }));
    expect(refusal).toMatchObject({ code: "not_primary", details: { primary: "node-a" } });
    const failure = forWire(new ServiceError("storage", "disk full")) as { code?: unknown };
    expect(failure).toBeInstanceOf(Error);
    expect(failure.code).toBeUndefined();
  });

  it("listenRefusal names the port and the variable for a port in use, and leaves another listener's failure alone", () => {
    const inUse = Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE", port: 7401 });
    const site = { app: "tkdb", host: "127.0.0.1", port: 7401, hostVar: "TKDB_HOST", portVar: "TKDB_PORT" };
    const r = listenRefusal(new ServiceError("config", "cannot listen", { cause: inUse }), site) as CliError;
    expect(r).toBeInstanceOf(CliError);
    expect(r.message).toContain("7401");
    expect(r.where).toBe("TKDB_PORT=7401");
    const metrics = Object.assign(new Error("x"), { code: "EADDRINUSE", port: 9100 });
    expect(listenRefusal(metrics, site)).toBe(metrics);
  });
});
