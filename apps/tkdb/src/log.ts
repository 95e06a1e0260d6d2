/** Structured JSON logs. Keys that may hold secrets are redacted whatever their value. */
const SECRET_KEY = /key|secret|token|header|ticket|kek|tail|discharge|password/i;

export type Logger = (
  level: "info" | "warn" | "error",
  msg: string,
  fields?: Record<string, unknown>,
) => void;

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k) && k !== "clientKey") out[k] = "[redacted]";
    else if (v instanceof Error) out[k] = { name: v.name, code: (v as { code?: unknown }).code };
    else if (v instanceof Uint8Array) out[k] = `[${v.length} bytes]`;
    else out[k] = v;
  }
  return out;
}

export function createLogger(sink: (line: Record<string, unknown>) => void = defaultSink): Logger {
  return (level, msg, fields = {}) => {
    try {
      sink({ ts: new Date().toISOString(), level, msg, ...redact(fields) });
    } catch {
      // logging never changes an outcome
    }
  };
}

function defaultSink(line: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
