/**
 * The keyring: every KEK a service holds, each with a key id, and the one way both apps seal a
 * field under the KEK. See keyring-format.ts for the bytes and README.md ("Keyring") for the
 * rotation procedure.
 *
 * - `current` (`*_KEK`): opens, and seals until a rotation names `next` in the check value.
 * - `next` (`*_KEK_NEXT`): configured on every node before a rotation; opens, and seals once the
 *   database's check value names it (after `kek rotate`).
 * - `retired` (`*_KEK_RETIRED`): open only, kept for the backup window so restores still open.
 *
 * Each KEK gives one subkey per purpose (HKDF-SHA256, info "tkdb-service/kek/v1/<purpose>") and
 * a key id (info "tkdb-service/kek/v1/kid", 8 bytes). The KEK itself never encrypts anything.
 */
import {
  constantTimeEqual,
  hkdfSha256,
  hmacSha256,
  KEY_LEN,
  newNonce,
  wipe,
  aeadOpen as xOpen,
  aeadSeal as xSeal,
} from "./crypto.js";
import { KeyringError } from "./keyring-errors.js";
import {
  type Binding,
  buildBlob,
  buildFingerprint,
  fingerprintKid,
  fingerprintMessage,
  hex,
  isPurpose,
  KID_LEN,
  MAX_PLAINTEXT,
  PURPOSES,
  type Purpose,
  parseBlob,
  sealAad,
} from "./keyring-format.js";
import { type LegacyFormat, openLegacyWithKek } from "./keyring-legacy.js";

export type KekRole = "current" | "next" | "retired";
/** A key id: 16 lowercase hex characters (8 bytes). Public: it says nothing about the key. */
export type KeyId = string;

export interface KeyringKeys {
  current: Uint8Array;
  next?: Uint8Array | undefined;
  retired?: readonly Uint8Array[] | undefined;
}

export interface KekInfo {
  kid: KeyId;
  role: KekRole;
}

export interface Opened {
  plaintext: Uint8Array;
  kid: KeyId;
  role: KekRole;
  /** "legacy": a bea118d blob; the next `kek rotate` rewraps it into the shared format */
  format: "v1" | "legacy";
}

interface Entry {
  role: KekRole;
  kek: Uint8Array;
  kid: Uint8Array;
  kidHex: KeyId;
  subkeys: Map<Purpose, Uint8Array>;
}

const utf8 = new TextEncoder();
const CHECK_BINDING: Binding = { table: "kek", column: "check", row: "v1" };

function derive(kek: Uint8Array, role: KekRole): Entry {
  const kid = hkdfSha256(kek, utf8.encode("tkdb-service/kek/v1/kid"), KID_LEN);
  const subkeys = new Map<Purpose, Uint8Array>();
  for (const p of PURPOSES) subkeys.set(p, hkdfSha256(kek, utf8.encode(`tkdb-service/kek/v1/${p}`), KEY_LEN));
  return { role, kek: new Uint8Array(kek), kid, kidHex: hex(kid), subkeys };
}

function assertKek(k: unknown, title: string): asserts k is Uint8Array {
  if (!(k instanceof Uint8Array) || k.length !== KEY_LEN) {
    throw new KeyringError("config", `${title} must be 32 bytes`);
  }
}

export class Keyring {
  readonly #entries: Entry[];
  #destroyed = false;
  #lastCheck: { bytes: Uint8Array; kid: KeyId } | undefined;

  private constructor(entries: Entry[]) {
    this.#entries = entries;
  }

  /** Builds a keyring; copies the keys (wipe yours when you like). Two equal keys are a `config` error. */
  static create(keys: KeyringKeys): Keyring {
    if (typeof keys !== "object" || keys === null) throw new KeyringError("config", "keys must be an object");
    assertKek(keys.current, "the current KEK");
    const entries = [derive(keys.current, "current")];
    if (keys.next !== undefined) {
      assertKek(keys.next, "the next KEK");
      entries.push(derive(keys.next, "next"));
    }
    const retired = keys.retired ?? [];
    if (!Array.isArray(retired)) throw new KeyringError("config", "retired KEKs must be a list");
    retired.forEach((k, i) => {
      assertKek(k, `retired KEK #${i + 1}`);
      entries.push(derive(k, "retired"));
    });
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.kidHex)) {
        for (const x of entries) wipeEntry(x);
        throw new KeyringError("config", `the same KEK is configured twice (kid ${e.kidHex})`);
      }
      seen.add(e.kidHex);
    }
    return new Keyring(entries);
  }

  /** The configured KEKs, current first. */
  get keks(): readonly KekInfo[] {
    return this.#live().map((e) => ({ kid: e.kidHex, role: e.role }));
  }

  get current(): KeyId {
    return this.#role("current").kidHex;
  }

  get next(): KeyId | undefined {
    return this.#live().find((e) => e.role === "next")?.kidHex;
  }

  /** Where `kek rotate` moves everything: `next` when configured, else `current`. */
  get rotationTarget(): KeyId {
    return (this.#live().find((e) => e.role === "next") ?? this.#role("current")).kidHex;
  }

  roleOf(kid: KeyId): KekRole | undefined {
    return this.#live().find((e) => e.kidHex === kid)?.role;
  }

  /**
   * Seals `plaintext` for `purpose` at `binding`, under `opts.kid` (default: current). Only the
   * current or next KEK seals; a retired one opens only.
   */
  seal(purpose: Purpose, plaintext: Uint8Array, binding: Binding, opts: { kid?: KeyId } = {}): Uint8Array {
    const e = this.#sealer(opts.kid);
    const key = this.#subkey(e, purpose);
    if (!(plaintext instanceof Uint8Array))
      throw new KeyringError("invalid_request", "plaintext must be bytes");
    if (plaintext.length > MAX_PLAINTEXT) throw new KeyringError("invalid_request", "plaintext is too large");
    const nonce = newNonce();
    return buildBlob(e.kid, nonce, xSeal(key, nonce, plaintext, sealAad(e.kid, purpose, binding)));
  }

  /**
   * Opens a blob sealed by `seal` (under any configured KEK, retired ones included). `wrong_kek`
   * when its KEK is not configured here; `integrity` when it was changed or moved.
   */
  open(purpose: Purpose, blob: Uint8Array, binding: Binding): Uint8Array {
    return this.openAny(purpose, blob, binding).plaintext;
  }

  /**
   * `open`, or for a bea118d blob (when `legacy` says which format the column held), the legacy
   * opener under each configured KEK in turn. Tells which KEK opened it and in which format.
   */
  openAny(purpose: Purpose, blob: Uint8Array, binding: Binding, legacy?: LegacyFormat): Opened {
    this.#live();
    if (!isPurpose(purpose)) throw new KeyringError("invalid_request", "unknown purpose");
    if (!(blob instanceof Uint8Array)) throw new KeyringError("invalid_request", "blob must be bytes");
    const parsed = parseBlob(blob);
    const e = parsed && this.#byKid(parsed.kid);
    if (parsed !== undefined && e !== undefined) {
      const pt = xOpen(this.#subkey(e, purpose), parsed.nonce, parsed.body, sealAad(e.kid, purpose, binding));
      if (pt !== null) return { plaintext: pt, kid: e.kidHex, role: e.role, format: "v1" };
    }
    // A legacy blob that starts with 0x02 and a configured kid is a 2^-64 accident; it still gets here.
    if (legacy !== undefined) {
      for (const x of this.#live()) {
        const pt = openLegacyWithKek(x.kek, legacy, blob);
        if (pt !== null) return { plaintext: pt, kid: x.kidHex, role: x.role, format: "legacy" };
      }
    }
    if (parsed !== undefined && e === undefined && legacy === undefined) {
      throw new KeyringError("wrong_kek", `sealed under KEK ${hex(parsed.kid)}, which is not configured`);
    }
    // As at bea118d, a field that does not open is `integrity`: a wrong KEK is caught earlier, by
    // the database's check value (checkRole), before any field is read.
    throw new KeyringError("integrity", "sealed value failed authentication");
  }

  /** The kid a format-0x02 blob names (no authentication: a hint for rotation and status). */
  kidOfUnverified(blob: Uint8Array): KeyId | undefined {
    const p = parseBlob(blob);
    return p === undefined ? undefined : hex(p.kid);
  }

  /** A fresh check value for `kid` (default: current): an empty plaintext sealed under it. */
  checkValue(kid?: KeyId): Uint8Array {
    return this.seal("kek-check", new Uint8Array(0), CHECK_BINDING, kid === undefined ? {} : { kid });
  }

  /**
   * Which configured KEK a database's check value is under: `wrong_kek` when none opens it.
   * `legacy` reads a bea118d check (tkdb's `kek_check`, petsem's wrapped `server-key`).
   */
  checkRole(check: Uint8Array, legacy?: LegacyFormat): KekInfo {
    try {
      const o = this.openAny("kek-check", check, CHECK_BINDING, legacy);
      wipe(o.plaintext);
      return { kid: o.kid, role: o.role };
    } catch (cause) {
      throw new KeyringError(
        "wrong_kek",
        "no configured KEK opens this database's check value (wrong or missing KEK?); nothing was changed",
        { cause },
      );
    }
  }

  /**
   * The kid to seal with, given the database's check value, read in the same transaction as the
   * write: the check names the KEK everything is under, so after `kek rotate` every node seals
   * under the new KEK at once. A check under a retired KEK (a restore from before a rotation)
   * refuses writes with `wrong_kek` until `kek rotate` moves the database to the current KEK.
   * The last verified check is remembered, so the usual call costs one byte comparison.
   */
  sealingKid(check: Uint8Array, legacy?: LegacyFormat): KeyId {
    const last = this.#lastCheck;
    if (last !== undefined && constantTimeEqual(last.bytes, check)) return last.kid;
    const info = this.checkRole(check, legacy);
    if (info.role === "retired") {
      throw new KeyringError(
        "wrong_kek",
        `this database is under KEK ${info.kid}, which is retired here: run \`kek rotate\` before writing`,
      );
    }
    this.#lastCheck = { bytes: new Uint8Array(check), kid: info.kid };
    return info.kid;
  }

  /**
   * A keyed fingerprint of `parts` (for idempotency records), tagged with the kid of the KEK whose
   * `idempotency-fingerprint` subkey made it (default: current), so it still compares after a
   * rotation while that KEK is configured. Nothing about the parts is learnable without the KEK.
   */
  fingerprint(parts: readonly (string | Uint8Array)[], opts: { kid?: KeyId } = {}): Uint8Array {
    const e = this.#sealer(opts.kid);
    return buildFingerprint(
      e.kid,
      hmacSha256(this.#subkey(e, "idempotency-fingerprint"), fingerprintMessage(parts)),
    );
  }

  /** Whether `stored` is the fingerprint of `parts` (constant time). `wrong_kek` if its KEK is gone. */
  fingerprintMatches(stored: Uint8Array, parts: readonly (string | Uint8Array)[]): boolean {
    this.#live();
    const kid = fingerprintKid(stored);
    if (kid === undefined) throw new KeyringError("integrity", "not a fingerprint");
    const e = this.#byKid(kid);
    if (e === undefined)
      throw new KeyringError("wrong_kek", `fingerprint made under KEK ${hex(kid)}, not configured`);
    const mac = hmacSha256(this.#subkey(e, "idempotency-fingerprint"), fingerprintMessage(parts));
    return constantTimeEqual(buildFingerprint(e.kid, mac), stored);
  }

  /** Wipes every key and subkey; the keyring refuses all use afterwards. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const e of this.#entries) wipeEntry(e);
    this.#lastCheck = undefined;
  }

  /** Never the keys: only ids and roles (logs, JSON, util.inspect). */
  toJSON(): { keks: readonly KekInfo[] } {
    return { keks: this.#destroyed ? [] : this.keks };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Keyring ${JSON.stringify(this.toJSON())}`;
  }

  #live(): Entry[] {
    if (this.#destroyed) throw new KeyringError("invalid_request", "this keyring was destroyed");
    return this.#entries;
  }

  #role(role: KekRole): Entry {
    const e = this.#live().find((x) => x.role === role);
    if (e === undefined) throw new KeyringError("config", `no ${role} KEK is configured`);
    return e;
  }

  #byKid(kid: Uint8Array): Entry | undefined {
    return this.#live().find((e) => constantTimeEqual(e.kid, kid));
  }

  #sealer(kid: KeyId | undefined): Entry {
    if (kid === undefined) return this.#role("current");
    const e = this.#live().find((x) => x.kidHex === kid);
    if (e === undefined)
      throw new KeyringError("wrong_kek", `KEK ${String(kid).slice(0, 16)} is not configured`);
    if (e.role === "retired") {
      throw new KeyringError("wrong_kek", `KEK ${kid} is retired: it opens, it never seals`);
    }
    return e;
  }

  #subkey(e: Entry, purpose: Purpose): Uint8Array {
    const k = e.subkeys.get(purpose);
    if (k === undefined) throw new KeyringError("invalid_request", "unknown purpose");
    return k;
  }
}

function wipeEntry(e: Entry): void {
  wipe(e.kek, ...e.subkeys.values());
}
