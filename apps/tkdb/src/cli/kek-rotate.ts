/**
 * `tkdb kek rotate [--dry-run]`: moves the local database onto TKDB_KEK_NEXT (or, with no next
 * KEK, onto TKDB_KEK: a database restored from before a rotation, or still holding bea118d
 * blobs), rewrapping every sealed field and switching the check value in ONE transaction
 * (src/kek-rotation.ts). Run it on the primary while the service keeps serving; afterwards
 * promote TKDB_KEK_NEXT to TKDB_KEK and move the old KEK to TKDB_KEK_RETIRED (infra/KEYS.md).
 */
import { command } from "@tkdb/service";
import { createKeyring } from "../crypto.js";
import { openDb } from "../db/open.js";
import { serviceConfigFrom, serviceEnv } from "../env.js";
import { rotateKek } from "../kek-rotation.js";
import { assertPrimary } from "../litefs.js";
import { pretty, requireDatabase, tkdbRun } from "./shared.js";

export const kekRotate = command({
  name: "rotate",
  description:
    "rewrap every sealed key and record under TKDB_KEK_NEXT (else TKDB_KEK) and switch the KEK check, in one transaction",
  options: [{ flags: "--dry-run", description: "open every sealed field and count them; write nothing" }],
  env: serviceEnv,
  examples: ["TKDB_KEK_FILE=old TKDB_KEK_NEXT_FILE=new tkdb kek rotate", "tkdb kek rotate --dry-run --json"],
  run: tkdbRun((ctx) => {
    const config = serviceConfigFrom(ctx.config(serviceEnv));
    assertPrimary(config.litefsDir);
    requireDatabase(config.dbPath, false);
    const ring = createKeyring(config);
    const opened = openDb(config.dbPath);
    try {
      return rotateKek(opened.sqlite, ring, { dryRun: ctx.opts.dryRun === true });
    } finally {
      opened.close();
      ring.destroy();
    }
  }),
  human: pretty,
});
