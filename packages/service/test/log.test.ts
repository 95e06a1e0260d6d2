import { describe, expect, it } from "vitest";
import { batchedStream, createLogger, logRpcEvent, silentLogger, startRequest } from "../src/log.js";
import { containsMaterial, isSecretFieldName, redactValue, scrubString } from "../src/log-redact.js";

const FLY_HEADER = `FlyV1 fm2_lJPECAAAAAAAAMiOxBCu2Q9kq7WbqcVtETRSZFkmxBBuRE5a,fm2_lJPETyHxwsT7bV3HB`;
const B64_KEY = "q0XzP2mV7s9Kc1RtYb4uW8eN3jLhGfDa6ZpQxTvMn0I";
const HEX_KEY = "0123456789abcdef".repeat(4);

function sink() {
  const lines: string[] = [];
  return {
    stream: { write: (s: string) => lines.push(s) },
    lines,
    json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const fixedNow = () => new Date("2026-01-02T03:04:05.000Z");

describe("logger", () => {
  it("writes one JSON object per line with ts, level, msg and fields", () => {
    const s = sink();
    createLogger({ stream: s.stream, now: fixedNow }).info("started", { port: 7401 });
    expect(s.lines).toEqual([
      '{"ts":"2026-01-02T03:04:05.000Z","level":"info","msg":"started","port":7401}\n',
    ]);
  });

  it("drops lines below the level", () => {
    const s = sink();
    const log = createLogger({ stream: s.stream, level: "warn" });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(s.json().map((l) => l.msg)).toEqual(["w", "e"]);
  });

  it("child loggers carry bound fields; a call's own fields win; reserved names cannot be overwritten", () => {
    const s = sink();
    const log = createLogger({ stream: s.stream, base: { service: "tkdb" } }).child({
      api: "verify",
      op: "a",
    });
    log.info("x", { op: "b", level: "fake", msg: "fake" });
    const [line] = s.json();
    expect(line).toMatchObject({ level: "info", msg: "x", service: "tkdb", api: "verify", op: "b" });
    expect(line?.["field.level"]).toBe("fake");
    expect(line?.["field.msg"]).toBe("fake");
  });

  it("fields named like material are redacted whatever their value", () => {
    const s = sink();
    createLogger({ stream: s.stream }).info("x", {
      token: "short",
      header: "anything",
      discharge: 1,
      kek: "x",
      noiseKey: "x",
      secretValue: "x",
      password: "x",
      authorization: "x",
      values: { A: "1" },
      nested: { apiToken: "x", ok: "fine" },
      durationMs: 3,
    });
    const [line] = s.json();
    for (const k of [
      "token",
      "header",
      "discharge",
      "kek",
      "noiseKey",
      "secretValue",
      "password",
      "authorization",
      "values",
    ])
      expect(line?.[k], k).toBe("[redacted]");
    expect(line?.nested).toEqual({ apiToken: "[redacted]", ok: "fine" });
    expect(line?.durationMs).toBe(3);
  });

  it("material-looking strings are redacted in any field, in the message and inside longer text", () => {
    const s = sink();
    createLogger({ stream: s.stream }).warn(`refused ${FLY_HEADER}`, {
      note: `got ${FLY_HEADER} from client`,
      id: HEX_KEY,
      blob: B64_KEY,
      raw: "fm1r_abcdef",
      list: [B64_KEY, "ok"],
    });
    const out = s.lines.join("");
    for (const secret of ["fm2_", "fm1r_", HEX_KEY, B64_KEY]) expect(out).not.toContain(secret);
    const [line] = s.json();
    expect(line?.msg).toBe("refused [redacted]");
    expect(line?.note).toBe("got [redacted] from client");
    expect(line?.list).toEqual(["[redacted]", "ok"]);
  });

  it("ordinary values survive: paths, URLs, ids, durations, rids", () => {
    const s = sink();
    const fields = {
      path: "/work/main/packages/service/test/fixtures/some-long-file-name.json",
      url: "https://api.fly.io/v1/apps/my-application-name/secrets/resolve",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      rid: "Q2xP3k9vR8sT1uW4yZ6b7c",
      op: "verify",
    };
    createLogger({ stream: s.stream }).info("x", fields);
    expect(s.json()[0]).toMatchObject(fields);
  });

  it("public fields named by the app skip redaction (a client's public key)", () => {
    const s = sink();
    createLogger({ stream: s.stream, publicFields: ["clientKey"] }).info("x", {
      clientKey: B64_KEY,
      otherKey: B64_KEY,
    });
    expect(s.json()[0]).toMatchObject({ clientKey: B64_KEY, otherKey: "[redacted]" });
  });

  it("errors log as name, code and scrubbed message; bytes as a length; never a stack", () => {
    const s = sink();
    const err = Object.assign(new Error(`bad header ${FLY_HEADER}`), { code: "bad_token" });
    createLogger({ stream: s.stream }).error("op failed", { error: err, bytes: new Uint8Array(32), n: 10n });
    const [line] = s.json();
    expect(line?.error).toEqual({ name: "Error", code: "bad_token", message: "bad header [redacted]" });
    expect(line?.bytes).toBe("[32 bytes]");
    expect(line?.n).toBe("10");
    expect(s.lines[0]).not.toContain("at ");
  });

  it("never throws: circular fields, a broken stream", () => {
    const s = sink();
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    createLogger({ stream: s.stream }).info("c", { a });
    expect(s.json()[0]?.a).toEqual({ x: 1, self: "[circular]" });
    const broken = createLogger({
      stream: {
        write: () => {
          throw new Error("EPIPE");
        },
      },
    });
    expect(() => broken.error("x")).not.toThrow();
    expect(() => silentLogger.error("x", { token: "t" })).not.toThrow();
  });
});

describe("redaction helpers", () => {
  it("field-name rule matches words and strong substrings, not innocent names", () => {
    for (const n of [
      "token",
      "authToken",
      "x-api-key",
      "client_secret",
      "KEK",
      "privateKey",
      "tail",
      "cookie",
    ])
      expect(isSecretFieldName(n), n).toBe(true);
    for (const n of ["monkey", "durationMs", "op", "org", "keyboard", "location", "outcome"])
      expect(isSecretFieldName(n), n).toBe(false);
  });

  it("value rule catches Fly tokens, long hex and random-looking base64 only", () => {
    expect(containsMaterial("fm1a_x")).toBe(true);
    expect(containsMaterial(`Bearer ${B64_KEY}`)).toBe(true);
    expect(containsMaterial(HEX_KEY)).toBe(true);
    expect(containsMaterial(B64_KEY)).toBe(true);
    expect(containsMaterial("xyz".repeat(20))).toBe(false);
    expect(containsMaterial("/var/lib/tkdb/data/litestream/generations/segment")).toBe(false);
    expect(scrubString("no secrets here")).toBe("no secrets here");
  });

  it("redactValue handles maps, sets, dates and depth", () => {
    const deep = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } };
    expect(redactValue(new Map([["token", "x"]]))).toEqual({ token: "[redacted]" });
    expect(redactValue(new Set([HEX_KEY]))).toEqual(["[redacted]"]);
    expect(redactValue(new Date(0))).toBe("1970-01-01T00:00:00.000Z");
    expect(JSON.stringify(redactValue(deep))).toContain("[depth]");
  });
});

describe("request log", () => {
  it("one rpc line with op, outcome, code and duration; ok, refused and error outcomes", () => {
    const s = sink();
    const log = createLogger({ stream: s.stream });
    let t = 100;
    const clock = () => t;
    const a = startRequest(log, "verify", { cid: "c1" }, clock);
    t = 101.5;
    a.done();
    a.done({ code: "internal" }); // later calls do nothing
    startRequest(log, "verify", {}, clock).done({ code: "revoked" });
    startRequest(log, "mint", {}, clock).done({ code: "internal" });
    const lines = s.json();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      level: "info",
      msg: "rpc",
      op: "verify",
      outcome: "ok",
      durationMs: 1.5,
      cid: "c1",
    });
    expect(lines[0]).not.toHaveProperty("code");
    expect(lines[1]).toMatchObject({ level: "info", outcome: "refused", code: "revoked" });
    expect(lines[2]).toMatchObject({ level: "error", outcome: "error", code: "internal" });
  });
});

describe("rpc lines (logRpcEvent)", () => {
  const event = {
    type: "response" as const,
    op: "verify",
    ok: false,
    code: "revoked",
    clientKey: B64_KEY,
    correlationId: "0123456789abcdef",
    rid: "AAAAAAAAAAAAAAAAAAAAAA",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    durationMs: 1.23456,
  };
  const opts = { now: fixedNow, base: { service: "tkdb" }, publicFields: ["clientKey"] };
  /** What the generic (redacting) path writes for the same fields. */
  function generic(e: typeof event | Omit<typeof event, "traceparent">): string {
    const s = sink();
    createLogger({ stream: s.stream, ...opts }).log("info", "rpc", {
      op: e.op,
      outcome: e.ok ? "ok" : e.code,
      durationMs: Math.round(e.durationMs * 1000) / 1000,
      clientKey: e.clientKey,
      cid: e.correlationId,
      rid: e.rid,
      traceparent: "traceparent" in e ? e.traceparent : undefined,
    });
    return s.lines.join("");
  }

  it("a well-formed event's line is exactly the redacting logger's line (with and without traceparent)", () => {
    for (const e of [event, { ...event, ok: true }, (({ traceparent: _t, ...rest }) => rest)(event)]) {
      const s = sink();
      logRpcEvent(createLogger({ stream: s.stream, ...opts }).log, e);
      expect(s.lines.join("")).toBe(generic(e));
    }
  });

  it("a field that is not of the expected shape takes the redacting path: a token in rid never reaches the log", () => {
    const s = sink();
    logRpcEvent(createLogger({ stream: s.stream, ...opts }).log, { ...event, rid: FLY_HEADER });
    expect(s.lines.join("")).not.toContain("fm2_");
    expect(s.json()[0]).toMatchObject({ msg: "rpc", op: "verify", rid: "[redacted]" });
  });

  it("without clientKey among the public fields, the client key is redacted as before", () => {
    const s = sink();
    logRpcEvent(createLogger({ stream: s.stream, now: fixedNow }).log, event);
    expect(s.lines.join("")).not.toContain(B64_KEY);
  });

  it("a batched stream writes a burst of lines in one write, and each line once", async () => {
    const writes: string[] = [];
    const b = batchedStream({ write: (c: string) => writes.push(c) }, { maxDelayMs: 5 });
    for (let i = 0; i < 10; i++) b.write(`line ${i}\n`);
    expect(writes).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(writes).toEqual([Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join("")]);
  });
});
