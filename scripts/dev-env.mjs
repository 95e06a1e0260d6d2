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
  // The third-party key list as a file, so no key travels in an environment variable.
  const tpKeys = join(keysDir, "tkdb.tp-keys");
  writeFileSync(
    tpKeys,
    `${TKDB_LOCATION}=${read(files.petsemShared)},${AUTH_LOCATION}=${read(files.authShared)}\n`,
    {
      mode: 0o600,
    },
  );
  chmodSync(tpKeys, 0o600);
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
        // A production deploy sets TKDB_TP_KEYS as a secret.
        TKDB_TP_KEYS_FILE: tpKeys,
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

/**
 * The development env file `npm start` writes into its data folder (`data/dev.env`): what the
 * tkdb and petsem CLIs need to reach the running services and their local databases. Key FILE
 * paths and public keys only, never a key. The CLIs load it when run inside the repository and
 * NODE_ENV is not production; variables set in the environment win.
 */
export function devEnvFileText(dev) {
  const t = dev.tkdb.env;
  const p = dev.petsem.env;
  const vars = {
    // tkdb: online commands (verify, strip, revoke, discharge) and local admin commands
    TKDB_URL: dev.tkdb.url,
    TKDB_SERVER_PUBLIC_KEY: dev.tkdb.publicKey.toString("hex"),
    TKDB_CLIENT_KEY_FILE: dev.files.signClient,
    TKDB_DATA_DIR: t.TKDB_DATA_DIR,
    TKDB_KEK_FILE: t.TKDB_KEK_FILE,
    TKDB_TP_KEYS_FILE: t.TKDB_TP_KEYS_FILE,
    TKDB_DEV_AUTH_KEY_FILE: dev.files.authShared,
    // petsem: secrets commands through the running service, local token commands
    PETSEM_URL: dev.petsem.url,
    PETSEM_PUBLIC_KEY: dev.petsem.publicKey.toString("hex"),
    // the development API server's writer token and flyd's reader token (minted by npm start)
    PETSEM_WRITER_TOKEN_FILE: join(dev.keysDir, "petsem-writer.token"),
    PETSEM_READER_TOKEN_FILE: join(dev.keysDir, "petsem-reader.token"),
    PETSEM_DATA_DIR: p.PETSEM_DATA_DIR,
    PETSEM_KEK_FILE: p.PETSEM_KEK_FILE,
    PETSEM_TKDB_SHARED_KEY_FILE: p.PETSEM_TKDB_SHARED_KEY_FILE,
    PETSEM_TKDB_LOCATION: p.PETSEM_TKDB_LOCATION,
    PETSEM_TKDB_URL: p.PETSEM_TKDB_URL,
    PETSEM_TKDB_PUBLIC_KEY: p.PETSEM_TKDB_PUBLIC_KEY,
  };
  const lines = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  return `# Written by npm start: development settings for the tkdb and petsem CLIs (key file paths and
# public keys, never a key). Used when a CLI runs inside this repository and NODE_ENV is not
# production; a variable set in your environment wins. Rewritten at every npm start.
${lines.join("\n")}
`;
}

/** Writes `<data>/dev.env` (owner-only) and returns its path. */
export function writeDevEnvFile(dev) {
  const file = join(dev.data, "dev.env");
  writeFileSync(file, devEnvFileText(dev), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
