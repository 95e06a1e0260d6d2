/**
 * `health` (verify API, anyone): up; whether this node is the primary; and, with replication, its
 * position (epoch, feed sequence, the primary's last heartbeat and its age) and whether it is
 * `stale` (a replica past TKDB_STALE_AFTER_MS answers `stale` to verify, discharge and revocations).
 * Health itself always answers, so an operator can see why a replica refuses.
 */
import { isPrimary } from "../litefs.js";
import type { Replication, ReplicationPosition } from "../replication.js";

export function health(
  litefsDir: string | undefined,
  replication?: Replication,
): { ok: true; primary: boolean; stale?: boolean; replication?: ReplicationPosition } {
  if (replication === undefined) return { ok: true, primary: isPrimary(litefsDir) };
  const pos = replication.position(true);
  return { ok: true, primary: pos.primary, stale: replication.stale(pos), replication: pos };
}
