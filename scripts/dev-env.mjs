// Development configuration of the main job: keys created once under <data>/keys (owner-only
// files), and the environment each service is started with. Production injects these instead
// (see infra/KEYS.md). Shared by scripts/start.mjs and the demo.
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const TKDB_LOCATION = "https://api.fly.io/v1";
export const AUTH_LOCATION = "https://api.fly.io/aaa/v1";

const hex32 = () => randomBytes(32).toString("hex");
// An X25519 secret key is any 32 random bytes (X25519 clamps). Not generateKeyPairSync + JWK
// export: that pair can deadlock Node 20 (see packages/noise/src/crypto.ts).
const x25519Private = hex32;
export function x25519Public(privHex) {
  const priv = createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), Buffer.from(privHex, "hex")]),
    format: "der",
    type: "pkcs8",
  });
  return Buffer.from(createPublicKey(priv).export({ format: "jwk" }).x, "base64url");
}

export function devEnv(root, env = process.env) {
  const data = resolve(env.DATA_DIR ?? join(root, "data"));
  const keysDir = join(data, "keys");
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  chmodSync(keysDir, 0o700);
  const secretFile = (name, make) => {
    const p = join(keysDir, name);
    if (!existsSync(p)) writeFileSync(p, make(), { mode: 0o600 });
    chmodSync(p, 0o600);
    return p;
  };
  const read = (p) => readFileSync(p, "utf8").trim();
  const files = {
    tkdbKek: secretFile("tkdb.kek", hex32),
    petsemKek: secretFile("petsem.kek", hex32),
    tkdbNoise: secretFile("tkdb.noise", x25519Private),
    petsemNoise: secretFile("petsem.noise", x25519Private),
    petsemShared: secretFile("tkdb-petsem.shared", hex32),
    authShared: secretFile("tkdb-auth.shared", hex32),
    signClient: secretFile("signing-client.noise", x25519Private),
  };
  const tkdbPort = env.TKDB_PORT ?? "7401";
  const petsemPort = env.PETSEM_PORT ?? "7402";
  return {
    data,
    keysDir,
    files,
    read,
    tkdb: {
      url: `http://127.0.0.1:${tkdbPort}`,
      publicKey: x25519Public(read(files.tkdbNoise)),
      env: {
        TKDB_HOST: "127.0.0.1",
        TKDB_PORT: tkdbPort,
        TKDB_DATA_DIR: join(data, "tkdb"),
        TKDB_KEK_FILE: files.tkdbKek,
        TKDB_NOISE_KEY_FILE: files.tkdbNoise,
        // The development signing client (the demo's API server and operator) may call every op.
        TKDB_SIGN_CLIENTS: `${x25519Public(read(files.signClient)).toString("hex")}:org_create+mint+revoke+strip`,
        // Keys are read here only to pass them on; a production deploy sets TKDB_TP_KEYS as a secret.
        TKDB_TP_KEYS: `${TKDB_LOCATION}=${read(files.petsemShared)},${AUTH_LOCATION}=${read(files.authShared)}`,
      },
    },
    petsem: {
      url: `http://127.0.0.1:${petsemPort}`,
      publicKey: x25519Public(read(files.petsemNoise)),
      env: {
        PETSEM_HOST: "127.0.0.1",
        PETSEM_PORT: petsemPort,
        PETSEM_DATA_DIR: join(data, "petsem"),
        PETSEM_KEK_FILE: files.petsemKek,
        PETSEM_NOISE_KEY_FILE: files.petsemNoise,
        PETSEM_TKDB_SHARED_KEY_FILE: files.petsemShared,
        PETSEM_TKDB_LOCATION: TKDB_LOCATION,
        // petsem follows tkdb's revocation feed (required to serve with the shared key)
        PETSEM_TKDB_URL: `http://127.0.0.1:${tkdbPort}`,
        PETSEM_TKDB_PUBLIC_KEY: x25519Public(read(files.tkdbNoise)).toString("hex"),
      },
    },
  };
}
