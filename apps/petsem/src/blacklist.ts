/**
 * petsem's token blacklist (security issue 12, item 7; DESIGN.md "petsem tokens can be revoked").
 *
 * One row per revoked nonce in the `blacklist` table (Fly's published shape, see schema.ts). A
 * petsem token's nonce is shared by every attenuation of it, so revoking a nonce kills the whole
 * lineage: the writer the API server holds and every per-request confinement of it, or a reader
 * and every copy flyd made. `PetsemAuthority` asks `isRevoked` on every call, before any other
 * check, so a revocation is honoured by the very next call (on the primary at once; on a replica
 * as soon as the row has replicated).
 *
 * Writes come only from the local CLI (`petsem token revoke`) on the primary: no RPC can add or
 * remove a row. The command writes a durable audit intent to the CLI's audit log first
 * (audit-log.ts), then the row and the intent's `audit_applied` row in one immediate transaction,
 * then the outcome: a crash in between is reconciled from that row at the next open.
 *
 * It keeps its own connection to petsem.db (opened after `SecretStore.open`, which migrates).
 */
import { base64Encode } from "@tkdb/macaroon";
import Database from "better-sqlite3";
import type { PetsemCrypto } from "./crypto.js";
import { hasTable } from "./db.js";
import { PetsemError } from "./errors.js";
import { type AppliedIntent, recordApplied } from "./store/applied.js";

/** Declared where it is used (tokens.ts): throws (fail closed) if it cannot answer. */
export interface RevokedTokens {
  /** Whether the token nonce with this msgpack encoding has been revoked. */
  isRevoked(nonce: Uint8Array): boolean;
}

export interface RevokeResult {
  /** the nonce as tkdb names nonces in its feed and audit: padded base64 of its encoding */
  readonly nonce: string;
  /** false when it was already revoked */
  readonly revoked: boolean;
}

export class TokenBlacklist implements RevokedTokens {
  private readonly sqlite: Database.Database;
  private readonly lookup: Database.Statement<[Buffer], unknown>;
  private readonly insert: Database.Statement<[Buffer], Database.RunResult>;
  private readonly now: () => number;
  private closed = false;

  private constructor(sqlite: Database.Database, now: () => number) {
    this.sqlite = sqlite;
    this.now = now;
    this.lookup = sqlite.prepare("SELECT 1 FROM blacklist WHERE nonce = ?");
    this.insert = sqlite.prepare("INSERT OR IGNORE INTO blacklist (nonce) VALUES (?)");
  }

  /**
   * Opens the blacklist of the database `file`, which `SecretStore.open` has already opened and
   * migrated (the table must exist). An in-memory database has no second connection: refused.
   */
  static open(file: string, _crypto: PetsemCrypto, now: () => number = Date.now): TokenBlacklist {
    if (file === ":memory:") {
      throw new PetsemError("config", "petsem serves from a database file, not an in-memory database");
    }
    const sqlite = new Database(file, { fileMustExist: true });
    try {
      sqlite.pragma("busy_timeout = 10000");
      if (!hasTable(sqlite, "blacklist")) {
        throw new PetsemError("config", "the database has no blacklist table (open the store first)");
      }
      return new TokenBlacklist(sqlite, now);
    } catch (e) {
      sqlite.close();
      throw e;
    }
  }

  isRevoked(nonce: Uint8Array): boolean {
    return this.lookup.get(Buffer.from(nonce)) !== undefined;
  }

  /**
   * Revokes a nonce (its msgpack encoding; the caller has checked it is one of petsem's), in one
   * transaction with the `audit_applied` row of the caller's audit intent, if any.
   */
  revoke(nonce: Uint8Array, intent: AppliedIntent | null = null): RevokeResult {
    const id = base64Encode(nonce);
    return this.sqlite
      .transaction((): RevokeResult => {
        const fresh = this.insert.run(Buffer.from(nonce)).changes === 1;
        if (intent !== null) recordApplied({ sqlite: this.sqlite, now: this.now }, intent, "revoke");
        return { nonce: id, revoked: fresh };
      })
      .immediate();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sqlite.close();
  }
}
