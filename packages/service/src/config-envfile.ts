/**
 * The development env file: `npm start` writes one (key file paths, URLs, public keys; never a key
 * itself) and the CLIs read it when run inside the repository, unless NODE_ENV is production.
 * Explicit environment variables always win over the file. The CLI runner decides when to call
 * `loadDevEnv` and says which file it used.
 *
 * Format: `KEY=VALUE` lines; blank lines and `#` comments ignored; an optional `export ` prefix;
 * one pair of matching single or double quotes around the value removed. Nothing is expanded.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "./errors.js";

const MAX_BYTES = 64 * 1024;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses env-file text. A malformed line is a ConfigError naming the file and line number, never
 * the line's text (it may hold a value).
 */
export function parseEnvFile(text: string, where = "env file"): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const body = t.startsWith("export ") ? t.slice(7).trimStart() : t;
    const eq = body.indexOf("=");
    const name = eq > 0 ? body.slice(0, eq).trim() : "";
    if (!NAME_RE.test(name))
      throw new ConfigError([{ variable: `${where}:${i + 1}`, problem: "is not a NAME=VALUE line" }]);
    let value = body.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1);
    out[name] = value;
  });
  return out;
}

export interface DevEnvOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the command runs; the repository is found by walking up from here. */
  readonly cwd: string;
  /** A file that marks the repository root. Default "pnpm-workspace.yaml". */
  readonly rootMarker?: string;
  /** The env file, relative to the root. Default "$DATA_DIR/dev.env" when DATA_DIR is set, else "data/dev.env". */
  readonly file?: string;
}

export interface DevEnvResult {
  /** The file's variables under the explicit environment (explicit wins). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The file used, or null when none was (production, outside the repository, no file). */
  readonly file: string | null;
  /** Variables taken from the file (those the environment did not set). */
  readonly applied: readonly string[];
  /** Why no file was used, for `--help`/debug output. */
  readonly skipped?: "production" | "no-repository" | "no-file";
}

/** The nearest folder at or above `cwd` holding `marker`, or null. */
export function findRepositoryRoot(cwd: string, marker = "pnpm-workspace.yaml"): string | null {
  let dir = resolve(cwd);
  for (let i = 0; i < 64; i++) {
    if (existsSync(join(dir, marker))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
  return null;
}

/**
 * Loads the development env file when NODE_ENV is not "production" and `cwd` is inside the
 * repository. The file configures which servers and public keys the CLI trusts, so one that group
 * or others may write is refused (ConfigError), not silently used.
 */
export function loadDevEnv(opts: DevEnvOptions): DevEnvResult {
  const env = opts.env;
  if ((env.NODE_ENV ?? "").trim() === "production")
    return { env, file: null, applied: [], skipped: "production" };
  const root = findRepositoryRoot(opts.cwd, opts.rootMarker);
  if (root === null) return { env, file: null, applied: [], skipped: "no-repository" };
  // `npm start` writes the file into its data folder: DATA_DIR when set (relative to where the
  // command runs, as start.mjs resolves it), else <root>/data.
  const dataDir = (env.DATA_DIR ?? "").trim();
  const file =
    opts.file !== undefined
      ? join(root, opts.file)
      : dataDir !== ""
        ? join(resolve(opts.cwd, dataDir), "dev.env")
        : join(root, "data", "dev.env");
  if (!existsSync(file)) return { env, file: null, applied: [], skipped: "no-file" };
  let text: string;
  try {
    const st = statSync(file);
    if (st.size > MAX_BYTES)
      throw new ConfigError([{ variable: file, problem: `is larger than ${MAX_BYTES} bytes` }]);
    if ((st.mode & 0o022) !== 0)
      throw new ConfigError([
        { variable: file, problem: "can be written by group or others; run chmod 600 on it (or delete it)" },
      ]);
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([{ variable: file, problem: "cannot be read" }], { cause: e });
  }
  const vars = parseEnvFile(text, file);
  const merged: Record<string, string | undefined> = { ...env };
  const applied: string[] = [];
  for (const [k, v] of Object.entries(vars)) {
    if ((env[k] ?? "") !== "") continue;
    merged[k] = v;
    applied.push(k);
  }
  return { env: merged, file, applied };
}
