/**
 * `petsem kek rotate [--dry-run]`: moves the local database onto PETSEM_KEK_NEXT (or, with no next
 * KEK, onto PETSEM_KEK: a database restored from before a rotation, or still in bea118d's format),
 * rewrapping every wrapped key and writing the KEK check in ONE transaction
 * (src/store/kek-rotation.ts). Run it on the primary while petsem keeps serving; then promote
 * PETSEM_KEK_NEXT to PETSEM_KEK and move the old KEK to PETSEM_KEK_RETIRED (infra/KEYS.md).
 */
import { command } from "@tkdb/service";
import { openRaw, prepare } from "../db.js";
import { petsemDbFile } from "../server.js";
import { createKeyring } from "../store/kek.js";
import { type KekRotationResult, rotateKek } from "../store/kek-rotation.js";
import { existingServerKey } from "../store/server-keys.js";
import { petsemConfig, requireDatabase } from "./common.js";

export const kekRotate = command({
  name: "rotate",
  description:
    "rewrap every wrapped key under PETSEM_KEK_NEXT (else PETSEM_KEK) and switch the KEK check, in one transaction",
  options: [{ flags: "--dry-run", description: "open every wrapped key and count them; write nothing" }],
  examples: [
    "PETSEM_KEK_FILE=old PETSEM_KEK_NEXT_FILE=new petsem kek rotate",
    "petsem kek rotate --dry-run --json",
  ],
  run: (ctx): KekRotationResult => {
    const config = petsemConfig(ctx);
    const file = petsemDbFile(config);
    requireDatabase(file);
    const ring = createKeyring(config);
    const sqlite = openRaw(file);
    try {
      existingServerKey(sqlite, ring)?.fill(0); // wrong_kek before anything is written
      prepare(sqlite);
      return rotateKek(sqlite, ring, { dryRun: ctx.opts.dryRun === true });
    } finally {
      sqlite.close();
      ring.destroy();
    }
  },
  human: (r) => `${JSON.stringify(r, null, 2)}\n`,
});
