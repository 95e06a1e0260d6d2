/**
 * `startPetsem(config)`: opens the store (checking the KEK), derives the macaroon authority from
 * the KEK-sealed root key, and serves the HTTP/Noise RPC on `host:port` (127.0.0.1 by default).
 */
import { join } from "node:path";
import { serve } from "@hono/node-server";
import type { KeyPair } from "@tkdb/noise";
import { createPetsemApp } from "./app.js";
import { petsemCaveatKit } from "./caveat-kit.js";
import { type BackendName, noiseKeyPair } from "./crypto.js";
import { DEFAULT_PETSEM_LOCATION, DEFAULT_TKDB_LOCATION, type LitestreamConfig } from "./env.js";
import { PetsemError } from "./errors.js";
import { type Replication, type ReplicationOptions, startReplication } from "./litestream.js";
import { SecretStore } from "./store.js";
import { PetsemAuthority } from "./tokens.js";

export interface StartPetsemConfig {
  readonly host?: string;
  readonly port?: number;
  /** folder holding petsem.db (ignored when `file` is given) */
  readonly dataDir?: string;
  readonly file?: string;
  readonly kek: Uint8Array;
  /** Noise static X25519 secret key */
  readonly noiseStaticKey?: Uint8Array | null;
  readonly tkdbSharedKey?: Uint8Array | null;
  readonly tkdbLocation?: string;
  readonly location?: string;
  readonly backend?: BackendName;
  readonly now?: () => number;
  /** continuous backup with Litestream; null/undefined = none */
  readonly litestream?: LitestreamConfig | null;
  /** Litestream's log lines (paths and positions only) */
  readonly onLitestreamLog?: ReplicationOptions["onLog"];
}

export interface RunningPetsem {
  /** http://host:port */
  readonly url: string;
  /** the Noise static public key clients pin */
  readonly publicKey: Uint8Array;
  readonly store: SecretStore;
  readonly authority: PetsemAuthority;
  /** the running Litestream child, when a replica is configured */
  readonly replication: Replication | null;
  /** closes the server, then stops Litestream (final sync), then closes the database */
  close(): Promise<void>;
}

/** The database file a config names: `file`, else `<dataDir>/petsem.db`. */
export function petsemDbFile(config: Pick<StartPetsemConfig, "file" | "dataDir">): string {
  return config.file ?? join(config.dataDir ?? "./data/petsem", "petsem.db");
}

/** Opens the store and the authority without serving (CLI `token mint`, tests, bench). */
export function openPetsem(config: StartPetsemConfig): { store: SecretStore; authority: PetsemAuthority } {
  const file = petsemDbFile(config);
  const store = SecretStore.open({
    file,
    kek: config.kek,
    ...(config.backend === undefined ? {} : { backend: config.backend }),
    ...(config.now === undefined ? {} : { now: config.now }),
  });
  try {
    const authority = new PetsemAuthority({
      rootKey: store.metaKey("macaroon_root_key"),
      location: config.location ?? DEFAULT_PETSEM_LOCATION,
      tkdbLocation: config.tkdbLocation ?? DEFAULT_TKDB_LOCATION,
      tkdbSharedKey: config.tkdbSharedKey ?? null,
      kit: petsemCaveatKit,
      ...(config.now === undefined ? {} : { now: config.now }),
    });
    return { store, authority };
  } catch (e) {
    store.close();
    throw e;
  }
}

export async function startPetsem(config: StartPetsemConfig): Promise<RunningPetsem> {
  if (config.noiseStaticKey === null || config.noiseStaticKey === undefined) {
    throw new PetsemError("config", "PETSEM_NOISE_KEY is required to serve");
  }
  const staticKeyPair: KeyPair = noiseKeyPair(config.noiseStaticKey, config.backend ?? "native");
  const { store, authority } = openPetsem(config);
  let replication: Replication | null = null;
  if (config.litestream) {
    try {
      replication = await startReplication(
        petsemDbFile(config),
        config.litestream,
        config.onLitestreamLog === undefined ? {} : { onLog: config.onLitestreamLog },
      );
    } catch (e) {
      store.close();
      throw e;
    }
  }
  const app = createPetsemApp({
    store,
    authorizer: authority,
    staticKeyPair,
    ...(config.backend === undefined ? {} : { backend: config.backend }),
    ...(config.now === undefined ? {} : { now: config.now }),
  });
  const host = config.host ?? "127.0.0.1";
  let listening: { server: ReturnType<typeof serve>; port: number };
  try {
    listening = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port: config.port ?? 0 }, (info) =>
        resolve({ server: s, port: info.port }),
      );
      s.once("error", reject);
    });
  } catch (e) {
    await replication?.stop().catch(() => undefined);
    store.close();
    throw e;
  }
  const { server, port } = listening;
  let closed = false;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    publicKey: staticKeyPair.publicKey,
    store,
    authority,
    replication,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      // Litestream's final sync first, while the database is still open and its WAL intact.
      try {
        await replication?.stop();
      } finally {
        store.close();
      }
    },
  };
}
