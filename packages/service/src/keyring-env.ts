/**
 * The keyring from an env object (never process.env: the app passes its own). For a prefix P
 * ("TKDB", "PETSEM"):
 *
 * | Variable | Meaning |
 * |---|---|
 * | P_KEK or P_KEK_FILE | the current KEK, 32 bytes as 64 hex or 43 base64url characters (required) |
 * | P_KEK_NEXT or P_KEK_NEXT_FILE | the next KEK: set on every node before `kek rotate` |
 * | P_KEK_RETIRED or P_KEK_RETIRED_FILE | retired KEKs (comma, space or newline separated), open-only, kept for the backup window |
 *
 * Errors are `ConfigError`s naming the variable, never its value.
 */
import { readFileSync } from "node:fs";
import type { Env } from "./config.js";
import { wipe } from "./crypto.js";
import { ConfigError } from "./errors.js";
import { Keyring } from "./keyring.js";
import { KeyringError } from "./keyring-errors.js";

/** A 32-byte key as 64 hex or 43 base64url characters (an `=` pad and surrounding space allowed). */
export function parseKek(text: string, name: string): Uint8Array {
  const t = typeof text === "string" ? text.trim() : "";
  if (/^[0-9a-fA-F]{64}$/.test(t)) return new Uint8Array(Buffer.from(t, "hex"));
  if (/^[A-Za-z0-9_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/=$/, ""), "base64url");
    if (b.length === 32) return new Uint8Array(b);
  }
  throw new ConfigError([
    { variable: name, problem: "must be 32 bytes as 64 hex or 43 base64url characters" },
  ]);
}

function text(env: Env, name: string, readFile: (path: string) => string): [string, string] | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  const has = (v: string | undefined) => v !== undefined && v !== "";
  if (has(direct) && has(file))
    throw new ConfigError([{ variable: name, problem: `set only one of ${name} and ${name}_FILE` }]);
  if (has(direct)) return [direct as string, name];
  if (!has(file)) return undefined;
  try {
    return [readFile(file as string), `${name}_FILE`];
  } catch {
    throw new ConfigError([{ variable: `${name}_FILE`, problem: "cannot read the file" }]);
  }
}

export interface KeyringEnvOptions {
  /** reads a *_FILE (default: readFileSync utf8) */
  readFile?: (path: string) => string;
}

/** Builds the keyring from `${prefix}_KEK`, `${prefix}_KEK_NEXT` and `${prefix}_KEK_RETIRED`. */
export function keyringFromEnv(env: Env, prefix: string, opts: KeyringEnvOptions = {}): Keyring {
  if (!/^[A-Z][A-Z0-9_]*$/.test(prefix))
    throw new KeyringError("invalid_request", "prefix must be like TKDB");
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const cur = text(env, `${prefix}_KEK`, readFile);
  if (cur === undefined)
    throw new ConfigError([{ variable: `${prefix}_KEK`, problem: `required (or ${prefix}_KEK_FILE)` }]);
  const keys: Uint8Array[] = [];
  try {
    const current = parseKek(...cur);
    keys.push(current);
    const nx = text(env, `${prefix}_KEK_NEXT`, readFile);
    const next = nx === undefined ? undefined : parseKek(...nx);
    if (next) keys.push(next);
    const rt = text(env, `${prefix}_KEK_RETIRED`, readFile);
    const retired = (rt?.[0] ?? "")
      .split(/[\s,]+/)
      .filter((s) => s !== "")
      .map((s, i) => parseKek(s, `${rt?.[1]}[${i + 1}]`));
    keys.push(...retired);
    return Keyring.create({ current, next, retired });
  } finally {
    wipe(...keys);
  }
}
