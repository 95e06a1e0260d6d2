/**
 * petsem's token signing keys (the macaroon root keys), each wrapped under the KEK in a `meta`
 * row (store/kek.ts, purpose `root-key`): `macaroon_root_key` is generation 1 (every database
 * since bea118d has it), `macaroon_root_key:<n>` generation n. The highest generation signs new
 * tokens; every other one still present verifies the tokens it signed. `petsem token key rotate`
 * adds generation max+1; `petsem token key retire` deletes every generation but the newest
 * (secure_delete zeroes the rows), after which tokens signed by them are refused.
 *
 * A running server reads the rows on each call through its own connection (one indexed query),
 * so a rotation or a retirement takes effect at once, without a restart; a row is unwrapped once
 * and cached while its bytes are unchanged.
 */
import { kidForKey } from "@tkdb/macaroon";
import type { Keyring } from "@tkdb/service";
import Database from "better-sqlite3";
import { stmt } from "../db.js";
import { PetsemError } from "../errors.js";
import { metaPlace, sealingKid, unwrapAt, wrapAt } from "./kek.js";

const FIRST = "macaroon_root_key";
const NAME = /^macaroon_root_key(?::([1-9]\d{0,8}))?$/;

/** A signing key generation: its meta row name and number. */
export interface TokenKeyInfo {
  readonly name: string;
  readonly generation: number;
}

function generationOf(name: string): number | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  return m[1] === undefined ? 1 : Number(m[1]);
}

/** The key id tokens signed by `key` carry (hex; public). */
function kidForKeyHex(key: Uint8Array): string {
  return Buffer.from(kidForKey(key)).toString("hex");
}

interface MetaRow {
  key: string;
  value: Buffer;
}

function tokenKeyRows(sqlite: Database.Database): (MetaRow & { generation: number })[] {
  const rows = stmt<MetaRow>(
    sqlite,
    "SELECT key, value FROM meta WHERE key = 'macaroon_root_key' OR key LIKE 'macaroon_root_key:%'",
  ).all();
  return rows
    .map((r) => ({ ...r, generation: generationOf(r.key) ?? 0 }))
    .filter((r) => r.generation > 0)
    .sort((a, b) => a.generation - b.generation);
}

/** The keys a server signs and verifies with, re-read on every call (see the file comment). */
export class TokenKeys {
  private readonly cache = new Map<string, { wrapped: Buffer; key: Uint8Array }>();
  private readonly sqlite: Database.Database;

  private constructor(
    sqlite: Database.Database,
    private readonly ring: Keyring,
  ) {
    this.sqlite = sqlite;
  }

  /** Opens the keys of `file` (already opened and migrated by SecretStore.open) with `ring`. */
  static open(file: string, ring: Keyring): TokenKeys {
    return new TokenKeys(new Database(file, { readonly: true, fileMustExist: true }), ring);
  }

  /** True while the database has no signing key yet (a new database). */
  isEmpty(): boolean {
    return tokenKeyRows(this.sqlite).length === 0;
  }

  /** Newest first: the signing key, then the keys that still verify. */
  current(): { signing: Uint8Array; verifying: Uint8Array[] } {
    const rows = tokenKeyRows(this.sqlite);
    const keys = rows.map((r) => this.unwrap(r));
    for (const name of [...this.cache.keys()]) if (!rows.some((r) => r.key === name)) this.forget(name);
    const signing = keys.pop();
    if (signing === undefined) throw new PetsemError("internal", "this database has no token signing key");
    return { signing, verifying: keys.reverse() };
  }

  close(): void {
    for (const name of [...this.cache.keys()]) this.forget(name);
    this.sqlite.close();
  }

  private unwrap(r: MetaRow): Uint8Array {
    const hit = this.cache.get(r.key);
    if (hit?.wrapped.equals(r.value)) return hit.key;
    const key = unwrapAt(this.ring, metaPlace(r.key), new Uint8Array(r.value));
    if (hit !== undefined) hit.key.fill(0);
    this.cache.set(r.key, { wrapped: Buffer.from(r.value), key });
    return key;
  }

  private forget(name: string): void {
    this.cache.get(name)?.key.fill(0);
    this.cache.delete(name);
  }
}

/** Every generation present, oldest first, with the key id each signs under. */
export function listTokenKeys(sqlite: Database.Database, ring: Keyring): (TokenKeyInfo & { kid: string })[] {
  return tokenKeyRows(sqlite).map((r) => {
    const key = unwrapAt(ring, metaPlace(r.key), new Uint8Array(r.value));
    try {
      return { name: r.key, generation: r.generation, kid: kidForKeyHex(key) };
    } finally {
      key.fill(0);
    }
  });
}

/** Adds generation max+1, wrapped under the database's KEK (one transaction). Returns it. */
export function rotateTokenKey(
  sqlite: Database.Database,
  ring: Keyring,
  newKey: () => Uint8Array,
): TokenKeyInfo & { kid: string } {
  return sqlite
    .transaction(() => {
      const rows = tokenKeyRows(sqlite);
      const generation = (rows.at(-1)?.generation ?? 0) + 1;
      const name = generation === 1 ? FIRST : `${FIRST}:${generation}`;
      const key = newKey();
      try {
        const wrapped = wrapAt(ring, sealingKid(ring, sqlite), metaPlace(name), key);
        sqlite.prepare("INSERT INTO meta (key, value) VALUES (?, ?)").run(name, wrapped);
        return { name, generation, kid: kidForKeyHex(key) };
      } finally {
        key.fill(0);
      }
    })
    .immediate();
}

/**
 * Deletes every generation but the newest (one transaction): the tokens they signed are refused
 * from then on. Refuses when there is nothing to retire.
 */
export function retireTokenKeys(sqlite: Database.Database): TokenKeyInfo[] {
  return sqlite
    .transaction(() => {
      const rows = tokenKeyRows(sqlite);
      const old = rows.slice(0, -1);
      if (old.length === 0)
        throw new PetsemError("conflict", "only one token signing key exists: rotate before retiring");
      const del = sqlite.prepare("DELETE FROM meta WHERE key = ?");
      for (const r of old) del.run(r.key);
      return old.map((r) => ({ name: r.key, generation: r.generation }));
    })
    .immediate();
}

export { FIRST as FIRST_TOKEN_KEY };
