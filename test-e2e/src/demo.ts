/**
 * `npm run demo`: the whole flow against the services `npm start` runs, step by step, with what
 * each step cost. Uses the development keys under ./data/keys (created by `npm start`).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ActionRead, FlyioAccess, flyRegistry, Machines, ResourceSet } from "@tkdb/caveats";
import { CachingVerifier, PetsemClient, TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader, hexDecode } from "@tkdb/macaroon";
import { devEnv } from "../../scripts/dev-env.mjs";
import { boot, type FlowActors, loginUser, one, writerFor } from "./flow.js";
import { cli, ROOT } from "./harness.js";

const ORG = 1n;
const APP = 100n;
const dev = devEnv(ROOT);
const secretKey = hexDecode(dev.read(dev.files.signClient));
const signer = { secretKey, publicKey: new Uint8Array(0) };
const { x25519Public } = await import("../../scripts/dev-env.mjs");
signer.publicKey = new Uint8Array(x25519Public(dev.read(dev.files.signClient)));

const tkdbEp = [{ url: dev.tkdb.url, serverPublicKey: new Uint8Array(dev.tkdb.publicKey) }];
const admin = new TkdbClient({
  endpoints: tkdbEp,
  clientStaticKey: signer,
  registry: flyRegistry,
  retry: { attempts: 1 },
});
const flyd = new TkdbClient({ endpoints: tkdbEp, registry: flyRegistry, retry: { attempts: 1 } });
const secrets = new PetsemClient({
  endpoints: [{ url: dev.petsem.url, serverPublicKey: new Uint8Array(dev.petsem.publicKey) }],
  retry: { attempts: 1 },
});

async function step<T>(title: string, fn: () => Promise<T>, show: (v: T) => string): Promise<T> {
  const t = performance.now();
  try {
    const v = await fn();
    console.log(`✔ ${title} (${(performance.now() - t).toFixed(1)} ms)\n    ${show(v)}`);
    return v;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    console.log(
      `✘ ${title} (${(performance.now() - t).toFixed(1)} ms)\n    ${e.code ?? "error"}: ${e.message}`,
    );
    throw err;
  }
}
async function refused(title: string, fn: () => Promise<unknown>): Promise<void> {
  const t = performance.now();
  try {
    await fn();
    console.log(`✘ ${title}: it was NOT refused`);
    process.exitCode = 1;
  } catch (err) {
    const e = err as { code?: string };
    console.log(
      `✔ ${title} (${(performance.now() - t).toFixed(1)} ms)\n    refused: ${e.code ?? String(err)}`,
    );
  }
}

try {
  await flyd.health();
  await secrets.health();
} catch {
  console.error(
    `tkdb (${dev.tkdb.url}) or petsem (${dev.petsem.url}) is not answering: run \`npm start\` first.`,
  );
  process.exit(2);
}

const petsemCli = async (args: string[]) => {
  const r = await cli("petsem", args, dev.petsem.env);
  if (r.code !== 0) throw new Error(`petsem ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout.trim();
};
const actors: FlowActors = {
  admin,
  flyd,
  secrets,
  authKey: hexDecode(dev.read(dev.files.authShared)),
  writer: await petsemCli(["token", "mint", "--writer"]),
  reader: one(await petsemCli(["token", "mint", "--reader"])),
};
console.log("petsem minted the API server's writer token and flyd's reader token (petsem token mint).\n");

await step(
  "tkdb: create the organization's root key (idempotent)",
  () => admin.orgCreate(ORG),
  (r) => `org ${r.org}, created: ${r.created}`,
);
const user = await step(
  "login service: user token with an authentication discharge",
  () => loginUser(actors, ORG, 42n),
  (u) => `${u.header.length} characters, 2 tokens`,
);
await step(
  "tkdb: verify the user's token",
  () => flyd.verify(user.header),
  (v) => `${v.caveats.length} verified caveats`,
);
const secret = `postgres://demo:${Date.now()}@db/app`;
const written = await step(
  "API server: write secrets with the writer token confined to org/app",
  () => secrets.set(writerFor(actors, ORG, APP), ORG, APP, { DATABASE_URL: secret, LOG_LEVEL: "info" }),
  (w) => `app_version ${w.app_version}`,
);
await step(
  "API server: list (names and per-version digests, never values)",
  () => secrets.list(writerFor(actors, ORG, APP), ORG, APP),
  (l) => l.secrets.map((s) => `${s.name}=${s.digest}`).join(", "),
);
await refused("API server: the writer token cannot resolve values", () =>
  secrets.resolve(writerFor(actors, ORG, APP), ORG, APP, written.app_version),
);
const seen = await step(
  "flyd: tkdb discharge with the user's token, resolve, boot the machine",
  () => boot(actors, user.header, ORG, APP, written.app_version),
  (h) => `machine saw DATABASE_URL with sha256 ${h.slice(0, 16)}…`,
);
if (seen !== createHash("sha256").update(secret).digest("hex"))
  throw new Error("the machine saw another value");
await admin.orgCreate(2n);
const stranger = await loginUser(actors, 2n, 43n).catch(() => undefined);
if (stranger)
  await refused("flyd: a user of another organization gets no discharge", () =>
    boot(actors, stranger.header, ORG, APP, written.app_version),
  );
const service = await step(
  "tkdb: strip the user's token into a service token",
  () => admin.strip(user.header),
  (s) => `service token ${s.token.length} characters, nonce ${s.nonce.slice(0, 12)}…`,
);
const svc = one(service.token);
svc.add(new Machines.Class(ResourceSet.of("string", { m1: 0x1f })));
const verifier = new CachingVerifier({ authority: flyd, registry: flyRegistry });
await verifier.poll();
const access = (machine: string) => new FlyioAccess({ action: ActionRead, orgId: ORG, appId: APP, machine });
const svcHeader = encodeAuthorizationHeader([svc]);
await step(
  "service token attenuated to machine m1: used on m1",
  () => verifier.verify(svcHeader, access("m1")),
  (v) => `allowed (cached: ${v.cached})`,
);
await refused("the same service token on machine m2", () => verifier.verify(svcHeader, access("m2")));
await step(
  "tkdb: revoke the user's token",
  () => admin.revoke({ token: encodeAuthorizationHeader([user.permission]) }),
  (r) => `nonce ${r.nonce.slice(0, 12)}… revoked`,
);
await refused("flyd: the next boot with the revoked token", () =>
  boot(actors, user.header, ORG, APP, written.app_version),
);
console.log(`\nDone. Data lives in ${join(dev.data)}.`);
