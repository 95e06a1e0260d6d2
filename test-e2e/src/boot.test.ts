import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ActionRead, FlyioAccess, FlyioUserID, flyRegistry, Machines, ResourceSet } from "@tkdb/caveats";
import { CachingVerifier, PetsemClient, TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader, type Macaroon, PermissionError, ValidityWindow } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_LOCATION, boot, type FlowActors, loginUser, one, TKDB_LOCATION, writerFor } from "./flow.js";
import { cli, hex, key32, type RunningService, startService, tempDir } from "./harness.js";
import { newKeys } from "./reliability/stack.js";

const ORG = 101n;
const APP = 7n;
const OTHER_ORG = 202n;
const SECRET = `postgres://user:${hex(key32())}@db/app`;

const dir = tempDir("e2e-boot");
const keys = newKeys();
let tkdb: RunningService;
let petsem: RunningService;
let admin: TkdbClient;
let flyd: TkdbClient;
let secrets: PetsemClient;
let actors: FlowActors;
let petsemEnv: Record<string, string>;
let tkdbEnv: Record<string, string>;

beforeAll(async () => {
  tkdbEnv = {
    TKDB_PORT: "0",
    TKDB_DATA_DIR: join(dir.path, "tkdb"),
    TKDB_KEK: keys.tkdbKek,
    TKDB_NOISE_KEY: hex(keys.tkdbNoise.secretKey),
    TKDB_SIGN_CLIENTS: hex(keys.signer.publicKey),
    TKDB_TP_KEYS: `${TKDB_LOCATION}=${hex(keys.petsemShared)},${AUTH_LOCATION}=${hex(keys.auth)}`,
  };
  tkdb = await startService("tkdb", tkdbEnv);
  petsemEnv = {
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir.path, "petsem"),
    PETSEM_KEK: keys.petsemKek,
    PETSEM_NOISE_KEY: hex(keys.petsemNoise.secretKey),
    PETSEM_TKDB_SHARED_KEY: hex(keys.petsemShared),
    PETSEM_TKDB_LOCATION: TKDB_LOCATION,
    PETSEM_TKDB_URL: tkdb.url,
    PETSEM_TKDB_PUBLIC_KEY: hex(keys.tkdbNoise.publicKey),
  };
  petsem = await startService("petsem", petsemEnv);
  const tkdbEp = [{ url: tkdb.url, serverPublicKey: tkdb.publicKey }];
  admin = new TkdbClient({ endpoints: tkdbEp, clientStaticKey: keys.signer, registry: flyRegistry });
  flyd = new TkdbClient({ endpoints: tkdbEp, registry: flyRegistry });
  secrets = new PetsemClient({ endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }] });
  await admin.orgCreate(ORG);
  await admin.orgCreate(OTHER_ORG);
  const w = await cli("petsem", ["token", "mint", "--writer"], petsemEnv);
  const r = await cli("petsem", ["token", "mint", "--reader"], petsemEnv);
  expect([w.code, r.code]).toEqual([0, 0]);
  actors = {
    admin,
    flyd,
    secrets,
    authKey: keys.auth,
    writer: w.stdout.trim(),
    reader: one(r.stdout.trim()),
  };
}, 90_000);

afterAll(async () => {
  await tkdb?.stop();
  await petsem?.stop();
  dir.remove();
});

describe("boot flow over real processes", () => {
  let user: { header: string; permission: Macaroon };
  let version = 0;

  it("a user token with a login-service discharge verifies at tkdb, attestation included", async () => {
    user = await loginUser(actors, ORG, 9n);
    const v = await flyd.verify(user.header);
    expect(v.org).toBe(ORG.toString());
    expect(v.caveats.some((c) => c instanceof FlyioUserID)).toBe(true);
  });

  it("the API server writes the app's secrets with its writer token confined to org and app", async () => {
    const res = await secrets.set(writerFor(actors, ORG, APP), ORG, APP, {
      DATABASE_URL: SECRET,
      MODE: "prod",
    });
    version = res.app_version;
    expect(version).toBeGreaterThan(0);
  });

  it("flyd gets a tkdb discharge with the user's token, resolves, and the machine sees the secrets", async () => {
    const seen = await boot(actors, user.header, ORG, APP, version);
    expect(seen).toBe(createHash("sha256").update(SECRET).digest("hex"));
  });

  it("the reader token without a discharge is refused", async () => {
    await expect(
      secrets.resolve(encodeAuthorizationHeader([actors.reader]), ORG, APP, version),
    ).rejects.toBeInstanceOf(NoiseRemoteError);
  });

  it("a user of another organization gets no discharge", async () => {
    const stranger = await loginUser(actors, OTHER_ORG, 10n);
    await expect(boot(actors, stranger.header, ORG, APP, version)).rejects.toMatchObject({
      code: "forbidden",
    });
  });

  it("a service token: stripped at tkdb, attenuated to one machine, refused for another", async () => {
    const { token } = await admin.strip(user.header);
    const service = one(token);
    expect(service.unsafeCaveats.some((c) => c instanceof ValidityWindow)).toBe(false);
    service.add(new Machines.Class(ResourceSet.of("string", { m1: 0x1f })));
    const verifier = new CachingVerifier({ authority: flyd, registry: flyRegistry });
    await verifier.poll();
    const header = encodeAuthorizationHeader([service]);
    const on = (machine: string) => new FlyioAccess({ action: ActionRead, orgId: ORG, appId: APP, machine });
    await expect(verifier.verify(header, on("m1"))).resolves.toBeDefined();
    await expect(verifier.verify(header, on("m2"))).rejects.toBeInstanceOf(PermissionError);
  });

  it("after the user's token is revoked, the next boot is refused", async () => {
    await admin.revoke({ token: encodeAuthorizationHeader([user.permission]) });
    await expect(boot(actors, user.header, ORG, APP, version)).rejects.toMatchObject({ code: "revoked" });
  });

  it("no secret value and no key appears in any process output, audit export or database file", async () => {
    const markers = [SECRET, keys.tkdbKek, keys.petsemKek, hex(keys.petsemShared), hex(keys.auth)];
    const audit = await cli("tkdb", ["audit", "export"], tkdbEnv);
    expect(audit.code).toBe(0);
    expect(audit.stdout.split("\n").length).toBeGreaterThan(4); // the flow's operations are there
    const outputs = tkdb.output() + petsem.output() + audit.stdout + audit.stderr;
    for (const m of markers) expect(outputs).not.toContain(m);
    for (const sub of ["tkdb", "petsem"]) {
      // every file below the data folder: database, WAL, and the audit log's folder
      for (const f of readdirSync(join(dir.path, sub), { recursive: true, encoding: "utf8" })) {
        if (!statSync(join(dir.path, sub, f)).isFile()) continue;
        const bytes = readFileSync(join(dir.path, sub, f));
        for (const m of markers) {
          expect(bytes.includes(Buffer.from(m))).toBe(false);
          if (/^[0-9a-f]+$/.test(m)) expect(bytes.includes(Buffer.from(m, "hex"))).toBe(false);
        }
      }
    }
  });
});
