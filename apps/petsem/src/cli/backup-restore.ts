/**
 * `petsem backup restore --output PATH [--timestamp RFC3339]`: restores the Litestream replica
 * (PETSEM_LITESTREAM_REPLICA) of PETSEM_DATA_DIR/petsem.db into a NEW file, latest or as of the
 * timestamp; it must open with PETSEM_KEK or nothing is written.
 */
import { type CommandDef, command } from "@tkdb/service";
import { PetsemError } from "../errors.js";
import { restoreBackup } from "../litestream.js";
import { petsemDbFile } from "../server.js";
import { petsemConfig, rfc3339Parser } from "./common.js";

export interface RestoreResult {
  readonly restored: string;
  readonly timestamp: string;
  readonly ms: number;
  readonly apps: { org: string; app: string; appVersion: number }[];
}

export const backupRestore: CommandDef<RestoreResult> = command({
  name: "restore",
  description: "restore the Litestream replica into a new file (latest, or as of --timestamp)",
  options: [
    { flags: "--output <path>", description: "the new database file (must not exist)", required: true },
    {
      flags: "--timestamp <time>",
      description: "RFC 3339 time, e.g. 2026-01-02T03:04:05Z",
      parse: rfc3339Parser,
    },
  ],
  examples: [
    "petsem backup restore --output /tmp/petsem-restored.db",
    "petsem backup restore --output /tmp/p.db --timestamp 2026-01-02T03:04:05Z",
  ],
  run: async (ctx) => {
    const { output, timestamp } = ctx.opts as { output: string; timestamp?: Date };
    const config = petsemConfig(ctx);
    if (config.litestream === null)
      throw new PetsemError("config", "PETSEM_LITESTREAM_REPLICA is required to restore a backup");
    const result = await restoreBackup({
      replica: config.litestream,
      dbPath: petsemDbFile(config),
      outputPath: output,
      kek: config.kek,
      kekNext: config.kekNext,
      kekRetired: config.kekRetired,
      backend: config.backend,
      ...(timestamp === undefined ? {} : { timestamp }),
    });
    return {
      restored: result.outputPath,
      timestamp: timestamp === undefined ? "latest" : timestamp.toISOString(),
      ms: Math.round(result.ms),
      apps: result.apps,
    };
  },
  human: (r) => `${JSON.stringify(r)}\n`,
});
