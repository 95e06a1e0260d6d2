/**
 * Configuration from an env object. An app declares its variables once (a spec), and gets from it
 * a typed config, the `--help` "Environment" section and the docs table. No package reads
 * process.env: the app's entry point passes it in.
 *
 *   const spec = defineConfig({
 *     port: port("TKDB_PORT", { default: 7401, doc: "listen port (0: any free port)" }),
 *     kek: key32("TKDB_KEK", { required: true, doc: "key-encryption key for root keys" }),
 *     ttl: duration("TKDB_DISCHARGE_TTL", { default: 60_000, min: 1000, max: 300_000, doc: "…" }),
 *   });
 *   const { values, warnings } = parseConfig(spec, env);   // values.kek: Uint8Array
 *
 * Rules every variable follows: an empty value is unset; a renamed variable keeps its old name
 * as an alias (accepted, with a warning; both set to different values is an error); a key can come
 * from VAR or from the file VAR_FILE names (both set is an error; a file others can read is
 * warned about, or refused); errors name the variable and what is wrong, never the value, and
 * all problems are reported at once.
 */
import { readFileSync, statSync } from "node:fs";
import { closest } from "./config-help.js";
import {
  durationParser,
  enumParser,
  formatDuration,
  intParser,
  KindError,
  listParser,
  type Parser,
  parseBool,
  parseHost,
  parseKey32,
  parseLocationKeys,
  portParser,
  urlParser,
} from "./config-kinds.js";
import { ConfigError, type ConfigProblem } from "./errors.js";

export type Env = Readonly<Record<string, string | undefined>>;

/** One variable. `O` true: the value may be undefined (neither default nor required). */
export interface Var<T, O extends boolean = boolean> {
  readonly name: string;
  readonly kind: string;
  readonly doc: string;
  readonly parse: Parser<T>;
  readonly required: boolean;
  readonly default: T | undefined;
  /** How the default reads in --help ("7401", "60s"). */
  readonly defaultText: string | undefined;
  readonly aliases: readonly string[];
  /** VAR_FILE may name a file holding the value. */
  readonly file: boolean;
  /** Never shown, and a VAR_FILE others can read is flagged. */
  readonly secret: boolean;
  /** "warn" (default) or "refuse" a secret file readable by group or others. */
  readonly filePermissions: "warn" | "refuse";
  readonly example: string | undefined;
  /** Phantom marker for the optionality of the parsed value. */
  readonly __optional?: O;
}

// biome-ignore lint/suspicious/noExplicitAny: a spec holds variables of any value type
export type ConfigSpec = Readonly<Record<string, Var<any, boolean>>>;
type ValueOf<V> = V extends Var<infer T, infer O> ? (O extends true ? T | undefined : T) : never;
export type ConfigOf<S extends ConfigSpec> = { readonly [K in keyof S]: ValueOf<S[K]> };

export interface VarOptions<T> {
  readonly doc: string;
  readonly default?: T;
  readonly required?: boolean;
  readonly aliases?: readonly string[];
  readonly example?: string;
}
type Optional<O> = O extends { default: unknown } ? false : O extends { required: true } ? false : true;

function makeVar<T, O extends boolean>(
  name: string,
  kind: string,
  parse: Parser<T>,
  opts: VarOptions<T>,
  extra: {
    file?: boolean;
    secret?: boolean;
    filePermissions?: "warn" | "refuse";
    show?: (v: T) => string;
  } = {},
): Var<T, O> {
  if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new TypeError(`variable name ${name} must be UPPER_SNAKE_CASE`);
  if (opts.required && opts.default !== undefined)
    throw new TypeError(`${name}: required and default conflict`);
  const secret = extra.secret ?? false;
  return {
    name,
    kind,
    doc: opts.doc,
    parse,
    required: opts.required ?? false,
    default: opts.default,
    defaultText:
      opts.default === undefined || secret ? undefined : (extra.show ?? ((v: T) => String(v)))(opts.default),
    aliases: opts.aliases ?? [],
    file: extra.file ?? false,
    secret,
    filePermissions: extra.filePermissions ?? "warn",
    example: opts.example,
  };
}

export interface Key32Options extends VarOptions<Uint8Array> {
  /** Default true: keys are secrets. Public keys set false (still never echoed in errors). */
  readonly secret?: boolean;
  readonly filePermissions?: "warn" | "refuse";
}

/** A 32-byte key from VAR or VAR_FILE: 64 hex, base64 or base64url, padded or not. */
export function key32<const O extends Key32Options>(name: string, opts: O): Var<Uint8Array, Optional<O>> {
  return makeVar(name, "key32", parseKey32, opts, {
    file: true,
    secret: opts.secret ?? true,
    filePermissions: opts.filePermissions ?? "warn",
  });
}

export function port<const O extends VarOptions<number> & { min?: number }>(
  name: string,
  opts: O,
): Var<number, Optional<O>> {
  return makeVar(name, "port", portParser(opts.min), opts);
}

export function host<const O extends VarOptions<string>>(name: string, opts: O): Var<string, Optional<O>> {
  return makeVar(name, "host", parseHost, opts);
}

/** Milliseconds; text "90" (bareUnit, default s), "90s", "500ms", "5m", "1h", "1h30m". */
export function duration<
  const O extends VarOptions<number> & { min?: number; max?: number; bareUnit?: "ms" | "s" },
>(name: string, opts: O): Var<number, Optional<O>> {
  return makeVar(name, "duration", durationParser(opts), opts, { show: formatDuration });
}

export function int<const O extends VarOptions<number> & { min?: number; max?: number }>(
  name: string,
  opts: O,
): Var<number, Optional<O>> {
  return makeVar(name, "int", intParser(opts), opts);
}

export function bool<const O extends VarOptions<boolean>>(name: string, opts: O): Var<boolean, Optional<O>> {
  return makeVar(name, "bool", parseBool, opts);
}

export function url<const O extends VarOptions<string> & { schemes?: readonly string[] }>(
  name: string,
  opts: O,
): Var<string, Optional<O>> {
  return makeVar(name, "url", urlParser(opts.schemes), opts);
}

export function string<const O extends VarOptions<string> & { pattern?: RegExp; patternText?: string }>(
  name: string,
  opts: O,
): Var<string, Optional<O>> {
  const parse: Parser<string> = (text) => {
    const t = text.trim();
    if (opts.pattern !== undefined && !opts.pattern.test(t))
      throw new KindError(`must be ${opts.patternText ?? `text matching ${opts.pattern.source}`}`);
    return t;
  };
  return makeVar(name, "string", parse, opts);
}

export function oneOf<const V extends string, const O extends VarOptions<V> & { values: readonly V[] }>(
  name: string,
  opts: O,
): Var<V, Optional<O>> {
  return makeVar(name, `one of ${opts.values.join("|")}`, enumParser(opts.values), opts);
}

/** A comma list whose items `item` parses; `itemKind` names them in --help ("URL"). */
export function list<
  T,
  const O extends VarOptions<T[]> & {
    item: Parser<T>;
    itemKind: string;
    min?: number;
    max?: number;
    unique?: boolean;
  },
>(name: string, opts: O): Var<T[], Optional<O>> {
  return makeVar(name, `list of ${opts.itemKind}`, listParser(opts.item, opts), opts, {
    show: (v) => v.map(String).join(","),
  });
}

/**
 * A list of 32-byte keys from VAR or VAR_FILE (comma, space or newline separated), each in any
 * key32 encoding; secret; empty when unset. A bad item is named by its index, never echoed.
 */
export function key32List(name: string, opts: { doc: string }): Var<Uint8Array[], false> {
  return {
    ...key32(name, { doc: opts.doc }),
    kind: "list of key32",
    default: [],
    defaultText: "none",
    parse: (text) =>
      text
        .split(/[\s,]+/)
        .filter((t) => t !== "")
        .map((t, i) => {
          try {
            return parseKey32(t);
          } catch (e) {
            throw e instanceof KindError ? new KindError(`item ${i} ${e.message}`) : e;
          }
        }),
    __optional: false,
  };
}

/** `location=key,…`: third-party keys by location (keys: the key32 encodings). Secret. */
export function locationKeys<const O extends VarOptions<Map<string, Uint8Array>>>(
  name: string,
  opts: O,
): Var<Map<string, Uint8Array>, Optional<O>> {
  return makeVar(name, "location=key list", parseLocationKeys, opts, { secret: true, file: true });
}

/** Checks a spec once (names unique across variables, aliases and _FILE forms) and returns it. */
export function defineConfig<const S extends ConfigSpec>(spec: S): S {
  const owner = new Map<string, string>();
  const claim = (n: string, by: string) => {
    const prev = owner.get(n);
    if (prev !== undefined && prev !== by) throw new TypeError(`${n} is claimed by both ${prev} and ${by}`);
    owner.set(n, by);
  };
  for (const v of Object.values(spec)) {
    for (const n of [v.name, ...v.aliases]) {
      claim(n, v.name);
      if (v.file) claim(`${n}_FILE`, v.name);
    }
  }
  return spec;
}

/** The file system calls configuration makes (tests substitute them). */
export interface ConfigFs {
  /** The file's text; at most `maxBytes` are read. */
  readFile(path: string, maxBytes: number): string;
  /** The file's permission bits, or undefined where there are none (Windows). */
  mode(path: string): number | undefined;
}

export const nodeConfigFs: ConfigFs = {
  readFile(path, maxBytes) {
    const buf = readFileSync(path);
    if (buf.length > maxBytes) throw new KindError(`is larger than ${maxBytes} bytes`);
    return buf.toString("utf8");
  },
  mode(path) {
    return process.platform === "win32" ? undefined : statSync(path).mode & 0o777;
  },
};

export interface ParseOptions {
  readonly fs?: ConfigFs;
  /** Variables starting with these prefixes that the spec does not know are warned about. */
  readonly prefixes?: readonly string[];
  /** Other specs of the same program: their variables are not "unknown" here. */
  readonly alsoKnown?: readonly ConfigSpec[];
}

export interface ParsedConfig<S extends ConfigSpec> {
  readonly values: ConfigOf<S>;
  /** Deprecated names used, loose key-file permissions, unknown variables: for the log at start. */
  readonly warnings: readonly string[];
}

const MAX_FILE_BYTES = 64 * 1024;

/** The first set (non-empty) variable among `names`, or a problem when two differ. */
function pick(env: Env, names: readonly string[], problems: ConfigProblem[]): [string, string] | undefined {
  const set = names.filter((n) => (env[n] ?? "").trim() !== "");
  const first = set[0];
  if (first === undefined) return undefined;
  for (const other of set.slice(1))
    if ((env[other] ?? "").trim() !== (env[first] ?? "").trim())
      problems.push({
        variable: first,
        problem: `set only one of ${first} and ${other} (an old name for it)`,
      });
  return [first, env[first] as string];
}

/** One variable's raw text and the name it came from, or undefined when unset. */
function rawValue(
  v: Var<unknown>,
  env: Env,
  fs: ConfigFs,
  problems: ConfigProblem[],
  warnings: string[],
): { from: string; text: string } | undefined {
  const names = [v.name, ...v.aliases];
  const direct = pick(env, names, problems);
  const file = v.file
    ? pick(
        env,
        names.map((n) => `${n}_FILE`),
        problems,
      )
    : undefined;
  const used = file?.[0] ?? direct?.[0];
  if (used !== undefined && used.replace(/_FILE$/, "") !== v.name)
    warnings.push(`${used} is an old name for ${v.file && file ? `${v.name}_FILE` : v.name}: rename it`);
  if (direct && file) {
    problems.push({ variable: v.name, problem: `set only one of ${direct[0]} and ${file[0]}` });
    return undefined;
  }
  if (direct) return { from: direct[0], text: direct[1] };
  if (!file) return undefined;
  const [fileVar, path] = [file[0], file[1].trim()];
  let mode: number | undefined;
  let text: string;
  try {
    text = fs.readFile(path, MAX_FILE_BYTES);
    mode = fs.mode(path);
  } catch (e) {
    const why =
      e instanceof KindError ? e.message : `cannot be read (${(e as { code?: string }).code ?? "error"})`;
    problems.push({ variable: fileVar, problem: `the file ${path} ${why}` });
    return undefined;
  }
  if (v.secret && mode !== undefined && (mode & 0o077) !== 0) {
    const what = `the file ${path} can be read by group or others (mode ${mode.toString(8).padStart(4, "0")}); run chmod 600 on it`;
    if (v.filePermissions === "refuse") problems.push({ variable: fileVar, problem: what });
    else warnings.push(`${fileVar}: ${what}`);
  }
  return { from: fileVar, text };
}

/**
 * Parses `env` against `spec`. Throws one ConfigError listing every problem (each naming its
 * variable, never a value); returns the typed values and the warnings to log at start.
 */
export function parseConfig<S extends ConfigSpec>(
  spec: S,
  env: Env,
  opts: ParseOptions = {},
): ParsedConfig<S> {
  const fs = opts.fs ?? nodeConfigFs;
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(spec)) {
    const before = problems.length;
    const raw = rawValue(v, env, fs, problems, warnings);
    if (raw === undefined) {
      // A required variable is reported missing unless reading it already failed (both set, …).
      if (v.required && problems.length === before)
        problems.push({
          variable: v.name,
          problem: `is required (set ${v.name}${v.file ? ` or ${v.name}_FILE` : ""})`,
        });
      values[key] = v.default;
      continue;
    }
    try {
      values[key] = v.parse(raw.text);
    } catch (e) {
      if (!(e instanceof KindError)) throw e;
      problems.push({
        variable: raw.from,
        problem: raw.from.endsWith("_FILE") ? `the file's content ${e.message}` : e.message,
      });
    }
  }
  warnings.push(...unknownVariables([spec, ...(opts.alsoKnown ?? [])], env, opts.prefixes ?? []));
  if (problems.length > 0)
    throw new ConfigError(problems, {
      hint: "run with --help to see every variable, its format and default",
    });
  return { values: values as ConfigOf<S>, warnings };
}

/** Every name the specs accept (variables, aliases, _FILE forms). */
function knownNames(specs: readonly ConfigSpec[]): Set<string> {
  const names = new Set<string>();
  for (const v of specs.flatMap((s) => Object.values(s)))
    for (const n of [v.name, ...v.aliases]) {
      names.add(n);
      if (v.file) names.add(`${n}_FILE`);
    }
  return names;
}

function unknownVariables(specs: readonly ConfigSpec[], env: Env, prefixes: readonly string[]): string[] {
  if (prefixes.length === 0) return [];
  const known = knownNames(specs);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || !prefixes.some((p) => name.startsWith(p))) continue;
    const near = closest(name, [...known]);
    out.push(`${name} is not a variable this program reads${near ? ` (did you mean ${near}?)` : ""}`);
  }
  return out;
}
