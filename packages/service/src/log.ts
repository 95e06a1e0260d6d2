/**
 * JSON-lines logger: one object per line, `{ts, level, msg, ...fields}`, written to a stream the
 * caller gives (the app passes process.stderr; tests pass a buffer). Every field goes through
 * redaction (log-redact.ts) before it is written, so a token passed by mistake never reaches the
 * log. Logging never throws and never changes an outcome.
 *
 *   const log = createLogger({ stream: process.stderr, level: "info", base: { service: "tkdb" } });
 *   const rpc = log.child({ api: "verify" });
 *   const req = startRequest(rpc, "verify");
 *   … req.done({ code: "revoked" });   // {"msg":"rpc","op":"verify","outcome":"refused","code":"revoked",…}
 */
import { type RedactOptions, redactValue, scrubString } from "./log-redact.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, unknown>>;

/** Anything with `write(string)`: process.stderr, a file stream, a test buffer. */
export interface LogStream {
  write(chunk: string): unknown;
}

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields` (a call's own fields win on a clash). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  readonly stream: LogStream;
  /** Lines below this level are dropped. Default "info". */
  readonly level?: LogLevel;
  /** Fields on every line (e.g. `{service: "tkdb"}`). */
  readonly base?: LogFields;
  /** Field names that hold public values (e.g. a client's public key) and skip redaction. */
  readonly publicFields?: readonly string[];
  /** Clock for `ts` (tests). Default `() => new Date()`. */
  readonly now?: () => Date;
}

/** The line's own keys; a field with one of these names is written as `field.<name>`. */
const RESERVED = new Set(["ts", "level", "msg"]);

/**
 * The `rpc` line of logRpcEvent, written without the generic redaction walk (a twentieth of a
 * loopback verify's time): only when every field has the exact shape the Noise server produces
 * (op and code names, a base64url public key, hex correlation id, request id, W3C traceparent),
 * none of which redaction would change; anything else returns false and takes the generic path.
 */
const RPC_LINE: unique symbol = Symbol("rpcLine");
type RpcLineWriter = (e: Extract<RpcEvent, { type: "response" }>) => boolean;

const NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;
const CODE_RE = /^[a-z][a-z0-9_.-]{0,63}$/;
const CLIENT_KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const CID_RE = /^[0-9a-f]{16}(?:\.[0-9]{1,20})?$/;
const RID_RE = /^[A-Za-z0-9_-]{0,22}$/;
const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const RPC_FIELDS = new Set(["op", "outcome", "durationMs", "clientKey", "cid", "rid", "traceparent"]);

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? "info";
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`unknown log level ${String(level)}`);
  const redact: RedactOptions = { publicFields: new Set(opts.publicFields ?? []) };
  const now = opts.now ?? (() => new Date());
  const clientKeyPublic = redact.publicFields?.has("clientKey") === true;
  /** The fast `rpc` line (see RPC_LINE); the same text the generic path writes for these fields. */
  const rpcLine =
    (bound: LogFields): RpcLineWriter =>
    (e) => {
      if (RANK.info < RANK[level]) return true;
      const outcome = e.ok ? "ok" : (e.code ?? "error");
      if (
        !clientKeyPublic ||
        Object.keys(bound).some((k) => RESERVED.has(k) || RPC_FIELDS.has(k)) ||
        !NAME_RE.test(e.op) ||
        !CODE_RE.test(outcome) ||
        !CLIENT_KEY_RE.test(e.clientKey) ||
        !CID_RE.test(e.correlationId) ||
        !RID_RE.test(e.rid) ||
        (e.traceparent !== undefined && !TRACEPARENT_RE.test(e.traceparent)) ||
        !Number.isFinite(e.durationMs)
      )
        return false;
      try {
        const head = JSON.stringify({
          ts: now().toISOString(),
          level: "info",
          msg: "rpc",
          ...boundRedacted(bound),
        });
        const durationMs = Math.round(e.durationMs * 1000) / 1000;
        const tp = e.traceparent === undefined ? "" : `,"traceparent":"${e.traceparent}"`;
        opts.stream.write(
          `${head.slice(0, -1)},"op":"${e.op}","outcome":"${outcome}","durationMs":${durationMs},"clientKey":"${e.clientKey}","cid":"${e.correlationId}","rid":"${e.rid}"${tp}}\n`,
        );
      } catch {
        // as `write`: logging never changes an outcome
      }
      return true;
    };
  // The bound fields, redacted once per logger rather than once per line.
  const redactedBound = new WeakMap<LogFields, Record<string, unknown>>();
  const boundRedacted = (bound: LogFields): Record<string, unknown> => {
    let r = redactedBound.get(bound);
    if (r === undefined) {
      r = redactValue({ ...bound }, redact) as Record<string, unknown>;
      redactedBound.set(bound, r);
    }
    return r;
  };
  const make = (bound: LogFields): Logger => {
    const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
      if (RANK[lvl] < RANK[level]) return;
      try {
        const line: Record<string, unknown> = { ts: now().toISOString(), level: lvl, msg: scrubString(msg) };
        const merged = redactValue({ ...bound, ...(fields ?? {}) }, redact) as Record<string, unknown>;
        for (const [k, v] of Object.entries(merged)) line[RESERVED.has(k) ? `field.${k}` : k] = v;
        opts.stream.write(`${JSON.stringify(line)}\n`);
      } catch {
        // A broken stream or an unserializable field must not turn a served request into a failure.
      }
    };
    const log: LogFn = (l, m, f) => write(l, m, f);
    Object.defineProperty(log, RPC_LINE, { value: rpcLine(bound) });
    return {
      level,
      debug: (m, f) => write("debug", m, f),
      info: (m, f) => write("info", m, f),
      warn: (m, f) => write("warn", m, f),
      error: (m, f) => write("error", m, f),
      log,
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make(opts.base ?? {});
}

/** The logger as one function, `log(level, msg, fields)` (what a module that only logs takes). */
export type LogFn = Logger["log"];

/** Every batched stream's flush, run once more when the process exits. */
const flushOnExit = new Set<() => void>();

/**
 * A stream that writes the lines of a short interval in one write: stderr is usually a pipe,
 * written synchronously (blocking while its reader is behind), and one write per RPC line was a
 * tenth of a loopback verify's time in a profile; one write per event-loop turn still meant about
 * one write per RPC under 8 callers (issue 17). Lines wait at most `maxDelayMs` (default 20 ms) or
 * until 64 KiB are pending; what is left is written on `exit`, so only a SIGKILL can lose the
 * last `maxDelayMs` of lines. The timer is unref'd: it never keeps a process alive.
 */
export function batchedStream(stream: LogStream, opts: { maxDelayMs?: number } = {}): LogStream {
  const delay = opts.maxDelayMs ?? 20;
  let pending = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending === "") return;
    const out = pending;
    pending = "";
    try {
      stream.write(out);
    } catch {
      // logging never changes an outcome
    }
  };
  if (flushOnExit.size === 0)
    process.once("exit", () => {
      for (const f of flushOnExit) f();
    });
  flushOnExit.add(flush);
  return {
    write(chunk: string) {
      pending += chunk;
      if (pending.length >= 64 * 1024) flush();
      else if (timer === undefined) {
        timer = setTimeout(flush, delay);
        timer.unref?.();
      }
    },
  };
}

/** A logger that drops every line (tests, library defaults). */
export const silentLogger: Logger = Object.freeze({
  level: "error" as LogLevel,
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  log: () => {},
  child: () => silentLogger,
});

/** Parses a level name (for LOG_LEVEL-style variables); undefined when it is not one. */
export function parseLogLevel(text: string): LogLevel | undefined {
  const t = text.trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(t) ? (t as LogLevel) : undefined;
}

/** How a request ended: `ok`, `refused` (a typed refusal: bad input, no right) or `error` (internal). */
export type RequestOutcome = "ok" | "refused" | "error";

/** Codes that mean the service failed rather than refused (logged at error level). */
const FAILURE_CODES = new Set(["internal", "storage", "integrity", "wrong_kek", "backup", "config"]);

export interface RequestLog {
  /** Writes the one line for this request; later calls do nothing. */
  done(result?: { code?: string | undefined; fields?: LogFields }): void;
}

/**
 * One line per request, `msg: "rpc"`, with `op`, `outcome`, `code` (when refused or failed) and
 * `durationMs` (monotonic clock, to the microsecond). Failures log at error level, the rest info.
 */
export function startRequest(
  log: Logger,
  op: string,
  fields?: LogFields,
  clock: () => number = () => performance.now(),
): RequestLog {
  const t0 = clock();
  let finished = false;
  return {
    done(result = {}) {
      if (finished) return;
      finished = true;
      const code = result.code;
      const outcome: RequestOutcome =
        code === undefined ? "ok" : FAILURE_CODES.has(code) ? "error" : "refused";
      const durationMs = Math.round((clock() - t0) * 1000) / 1000;
      log.log(outcome === "error" ? "error" : "info", "rpc", {
        ...(fields ?? {}),
        ...(result.fields ?? {}),
        op,
        outcome,
        ...(code === undefined ? {} : { code }),
        durationMs,
      });
    },
  };
}

/**
 * What an RPC server reports about a call (the shape of @tkdb/noise's NoiseServerEvent, declared
 * here so this package needs no Noise dependency).
 */
export type RpcEvent =
  | { type: "rejected"; reason: string }
  | {
      type: "response";
      op: string;
      ok: boolean;
      code?: string | undefined;
      clientKey: string;
      correlationId: string;
      rid: string;
      traceparent?: string | undefined;
      durationMs: number;
    }
  | { type: "op_error"; op: string; correlationId: string; error: unknown };

/**
 * Both services' log lines for their RPCs: one `rpc` line per answered call (`op`, `outcome`: "ok"
 * or the code sent, `durationMs`, `clientKey`, `cid`, `rid`, `traceparent`), one `op failed` error
 * line (with the cause) for a server failure, which the client sees as a bare `internal`.
 * Rejections before a handshake completes are counted by metrics, not logged (a flood would fill
 * the log).
 */
export function logRpcEvent(log: LogFn, e: RpcEvent): void {
  if (e.type === "response") {
    const fast = (log as { [RPC_LINE]?: RpcLineWriter })[RPC_LINE];
    if (fast?.(e)) return;
    log("info", "rpc", {
      op: e.op,
      outcome: e.ok ? "ok" : (e.code ?? "error"),
      durationMs: Math.round(e.durationMs * 1000) / 1000,
      clientKey: e.clientKey,
      cid: e.correlationId,
      rid: e.rid,
      traceparent: e.traceparent,
    });
  } else if (e.type === "op_error")
    log("error", "op failed", { op: e.op, cid: e.correlationId, error: e.error });
}
