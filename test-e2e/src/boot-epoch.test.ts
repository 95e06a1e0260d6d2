/**
 * Issue 14 item 2, the boot side: petsem's versions are (epoch, version) pairs, and a boot sends
 * the pair the deploy gave it. After a restore that loses a version (a backup made before the
 * write, as a failover to a replica that never received it would), petsem reissues the number in
 * a new epoch with other contents; a boot asking for the lost (epoch, version) is refused `stale`
 * ("lost in a restore") and its machine never starts with the other contents, both through the e2e
 * flow (flyd's resolve with the deploy record) and through `petsem boot --min-version
 * --min-epoch`. Services run as processes; Litestream replicates to a local folder.
 */

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PetsemClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boot, loginUser, TKDB_LOCATION, writerFor } from "./flow.js";
import { cli, hex, type RunningService, startService, tempDir } from "./harness.js";
import { type Stack, startStack } from "./reliability/stack.js";

const ORG = 7719n;
const APP = 31n;
const USER = 717171n;
const KEPT = "postgres://kept-3a9d@db/x";
const LOST = "postgres://lost-8c1e@db/x";
const REISSUED = "postgres://reissued-d27b@db/x";

let stack: Stack;
const replica = tempDir("petsem-e2e-epoch-replica");
const work = tempDir("petsem-e2e-epoch");
let restored: RunningService | undefined;

beforeAll(async () => {
  stack = await startStack("e2e-boot-epoch", {
    petsem: { PETSEM_LITESTREAM_REPLICA: `file://${replica.path}`, PETSEM_LITESTREAM_SYNC_INTERVAL: "100ms" },
  });
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await restored?.stop();
  await stack?.stop();
  replica.remove();
  work.remove();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a boot sends the (epoch, version) it was given, so a version lost in a restore is never served", () => {
  it("after a restore loses the deployed version, a boot asking for the lost (epoch, version) is refused stale and never gets the reissued contents; the new pair boots", async () => {
    const a = stack.actors;
    const writer = writerFor(a, ORG, APP);
    const user = await loginUser(a, ORG, USER);
    // The API server writes and deploys; the deploy record is what flyd is given: (epoch, version).
    await a.secrets.set(writer, ORG, APP, { DATABASE_URL: KEPT });
    await sleep(1500);
    const T = new Date().toISOString();
    await sleep(1500);
    await a.secrets.set(writer, ORG, APP, { DATABASE_URL: LOST });
    const deployed = await a.secrets.deploy(writer, ORG, APP);
    expect(deployed.epoch).toMatch(/^[0-9a-f]{16}$/);
    // The deploy command prints the pair for whoever hands it to flyd.
    const cliEnv = {
      ...stack.petsemEnv,
      PETSEM_URL: stack.petsem.url,
      PETSEM_PUBLIC_KEY: hex(stack.petsem.publicKey),
    };
    const printed = await cli(
      "petsem",
      ["secrets", "deploy", "--org", `${ORG}`, "--app", `${APP}`, "--json"],
      {
        ...cliEnv,
        PETSEM_WRITER_TOKEN: writer,
      },
    );
    expect(printed.code, printed.stderr).toBe(0);
    expect(JSON.parse(printed.stdout)).toMatchObject({
      min_version: deployed.min_version,
      epoch: deployed.epoch,
    });
    // Before the restore, the pair boots the deployed contents.
    expect(await boot(a, user.header, ORG, APP, deployed)).toBe(sha256hex(LOST));
    await sleep(1500);
    await stack.petsem.stop();

    // Restore a backup from before the deployed write (what a failover to a lagging node does),
    // and write again: the lost version number is reissued with other contents, in a new epoch.
    const dataDir = join(work.path, "petsem");
    const r = await cli(
      "petsem",
      ["backup", "restore", "--timestamp", T, "--output", join(dataDir, "petsem.db")],
      stack.petsemEnv,
    );
    expect(r.code, r.stderr).toBe(0);
    const env: Record<string, string> = { ...stack.petsemEnv, PETSEM_DATA_DIR: dataDir };
    delete env.PETSEM_LITESTREAM_REPLICA;
    restored = await startService("petsem", env);
    const secrets = new PetsemClient({
      endpoints: [{ url: restored.url, serverPublicKey: restored.publicKey }],
    });
    const again = await secrets.set(writer, ORG, APP, { DATABASE_URL: REISSUED });
    expect(again.app_version).toBe(deployed.min_version);
    expect(again.epoch).not.toBe(deployed.epoch);
    const viaRestored = { ...a, secrets };

    // The e2e flow (flyd with the deploy record): refused stale, lost; no machine starts.
    const err = await boot(viaRestored, user.header, ORG, APP, deployed).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "stale", message: expect.stringMatching(/lost in a restore/) });

    // The CLI: `petsem boot --min-version V --min-epoch E` with the lost pair.
    const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
    if (!ticket) throw new Error("reader token has no tkdb caveat");
    const discharge = await a.flyd.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
    const bootEnv = {
      ...stack.petsemEnv,
      PETSEM_URL: restored.url,
      PETSEM_PUBLIC_KEY: hex(restored.publicKey),
      PETSEM_READER_TOKEN: encodeAuthorizationHeader([a.reader]),
    };
    const marker = join(work.path, "machine.out");
    const machine = [
      "--",
      process.execPath,
      "-e",
      `require('fs').writeFileSync(${JSON.stringify(marker)}, process.env.DATABASE_URL ?? '')`,
    ];
    const bootArgs = (version: number, epoch: string) => [
      "boot",
      "--org",
      `${ORG}`,
      "--app",
      `${APP}`,
      "--discharge",
      discharge,
      "--min-version",
      `${version}`,
      "--min-epoch",
      epoch,
      ...machine,
    ];
    const refused = await cli("petsem", bootArgs(deployed.min_version, deployed.epoch as string), bootEnv);
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toMatch(/stale/);
    expect(refused.stderr).toMatch(/lost in a restore/);
    expect(existsSync(marker)).toBe(false);
    expect(refused.stdout + refused.stderr).not.toContain(REISSUED);

    // The pair the new write returned boots the new contents (the refusal was the epoch's doing).
    const ok = await cli("petsem", bootArgs(again.app_version, again.epoch as string), bootEnv);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(marker, "utf8")).toBe(REISSUED);
    expect(await boot(viaRestored, user.header, ORG, APP, again)).toBe(sha256hex(REISSUED));
  }, 300_000);

  it("petsem boot refuses --min-epoch without --min-version, and an epoch that is not one, as usage errors", async () => {
    const env = {
      ...stack.petsemEnv,
      PETSEM_URL: stack.petsem.url,
      PETSEM_PUBLIC_KEY: hex(stack.petsem.publicKey),
    };
    const alone = await cli(
      "petsem",
      [
        "boot",
        "--org",
        "1",
        "--app",
        "1",
        "--discharge",
        "x",
        "--min-epoch",
        "0123456789abcdef",
        "--",
        "true",
      ],
      env,
    );
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--min-epoch/);
    const bad = await cli(
      "petsem",
      [
        "boot",
        "--org",
        "1",
        "--app",
        "1",
        "--discharge",
        "x",
        "--min-version",
        "1",
        "--min-epoch",
        "nope",
        "--",
        "true",
      ],
      env,
    );
    expect(bad.code).toBe(2);
  }, 60_000);
});

function sha256hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
