/**
 * Child process of outcome-crash.test.ts: runs one audited op (a committed `revoke` mutation, or a
 * `discharge`) on a log whose outcome flush timer never fires, prints `replied` once the op has
 * returned, and waits to be killed: its outcome is chained but not on disk, as after a crash right
 * after a reply (except a revocation naming its nonces, whose outcome is durable before the
 * reply). Arguments: <db path> <audit dir> <revoke|revoke-nonces|discharge>.
 */
import { AuditLog } from "@tkdb/audit";
import { nonceField, TkdbAudit } from "../src/audit.js";
import { native } from "../src/crypto.js";
import { runDischarge, runMutation } from "../src/mutate.js";
import { DrizzleStore } from "../src/store.js";

const [dbPath, auditDir, op] = process.argv.slice(2) as [string, string, string];
const ACTOR = `noise:${Buffer.alloc(32, 7).toString("base64url")}`;
const store = new DrizzleStore(dbPath, native);
const log = await AuditLog.open(auditDir, { node: "node1", timers: false, soonFlushMs: 3_600_000 });
const audit = new TkdbAudit(log);
if (op === "revoke")
  await runMutation({ store, audit, op: "revoke", actor: ACTOR, now: Date.now() }, () => {
    store.revoke(new Uint8Array([1, 2, 3]), null);
    return [{}, { org: "1" }];
  });
else if (op === "revoke-nonces")
  // a revocation naming its nonces (a Fly nonce: msgpack [kid 0x04, rnd 0x05]): what a restore re-applies
  await runMutation({ store, audit, op: "revoke", actor: ACTOR, now: Date.now() }, () => {
    store.revoke(new Uint8Array([4, 5, 6]), null);
    return [{}, { org: "1", nonces: [nonceField("ksQBBMQBBQ==")] }];
  });
else await runDischarge(audit, ACTOR, () => [{ discharge: "d" }, { org: "1", app: "2" }]);
process.stdout.write("replied\n");
setInterval(() => undefined, 60_000);
