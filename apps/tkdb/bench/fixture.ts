/**
 * What the issue-14 benches share: the keys of one tkdb (Noise static key, KEK, a signing client,
 * the keys shared with the login service and with petsem), the env object `tkdb serve` would read
 * for them (env.ts's variables: the benches configure tkdb exactly as the process does), and the
 * callers: forward-secret Noise sessions on the two APIs, a user's token with its login discharge,
 * and a petsem-style reader ticket for `discharge`.
 */
import { flyRegistry, loginDischarge, userTokenCaveats } from "@tkdb/caveats";
import { base64Encode, encodeAuthorizationHeader, Macaroon, parseAuthorizationHeader } from "@tkdb/macaroon";
import { getNative, NoiseSession } from "@tkdb/noise";
import { randomBytes } from "../src/crypto.js";
import { AUTH_LOCATION, DEFAULT_LOCATION } from "../src/env.js";

export const QUICK = process.env.BENCH_QUICK === "1";

const nc = getNative();
if (nc === undefined) throw new Error("node:crypto X25519 is unavailable");
export const noise = nc;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");

export interface Keys {
  noise: { publicKey: Uint8Array; secretKey: Uint8Array };
  signer: { publicKey: Uint8Array; secretKey: Uint8Array };
  kek: Uint8Array;
  authKey: Uint8Array;
  petsemKey: Uint8Array;
}

export function newKeys(): Keys {
  return {
    noise: noise.generateKeyPair(),
    signer: noise.generateKeyPair(),
    kek: randomBytes(32),
    authKey: randomBytes(32),
    petsemKey: randomBytes(32),
  };
}

/** The variables `tkdb serve` would be started with (loopback, any free port). */
export function serveEnvFor(keys: Keys, dataDir: string, extra: Record<string, string> = {}) {
  return {
    TKDB_HOST: "127.0.0.1",
    TKDB_PORT: "0",
    TKDB_DATA_DIR: dataDir,
    TKDB_KEK: hex(keys.kek),
    TKDB_NOISE_KEY: hex(keys.noise.secretKey),
    TKDB_SIGN_CLIENTS: `${b64u(keys.signer.publicKey)}:org_create+mint+revoke+strip`,
    TKDB_TP_KEYS: `${AUTH_LOCATION}=${hex(keys.authKey)},${DEFAULT_LOCATION}=${hex(keys.petsemKey)}`,
    TKDB_AUDIT_NODE: "bench-1",
    ...extra,
  };
}

/** One forward-secret session per API, as @tkdb/client keeps them (shared by every caller). */
export function sessions(url: string, serverPublicKey: Uint8Array, keys: Keys) {
  const verify = new NoiseSession({ url, api: "verify", pattern: "IK", serverPublicKey });
  const sign = new NoiseSession({
    url,
    api: "sign",
    pattern: "KK",
    serverPublicKey,
    clientStaticKey: keys.signer,
  });
  return {
    verify: <T>(op: string, args: Record<string, unknown>) => verify.call<T>(op, args),
    sign: <T>(op: string, args: Record<string, unknown>) => sign.call<T>(op, args),
    close() {
      verify.close();
      sign.close();
    },
  };
}

export type Callers = ReturnType<typeof sessions>;

/** A user's bundle as Fly's login makes it: permission token (minted by tkdb) + login discharge. */
export async function userHeader(c: Callers, keys: Keys, org: bigint): Promise<string> {
  const caveats = userTokenCaveats(org, Math.floor(Date.now() / 1000));
  const { token } = await c.sign<{ token: string }>("mint", { org: org.toString(), caveats });
  const t = parseAuthorizationHeader(token, { registry: flyRegistry })[0];
  if (t?.kind !== "macaroon") throw new Error("mint returned no token");
  const discharge = loginDischarge(t.macaroon, {
    authKey: keys.authKey,
    authLocation: AUTH_LOCATION,
    org,
    userId: 4242n,
  });
  return encodeAuthorizationHeader([t.macaroon, discharge]);
}

/** A petsem reader token's third-party ticket at tkdb's location (what flyd brings to discharge). */
export function readerTicket(keys: Keys): string {
  const reader = Macaroon.mint({
    key: randomBytes(32),
    kid: new Uint8Array([1]),
    location: "https://api.fly.io/secrets/v1",
    registry: flyRegistry,
  });
  return base64Encode(reader.add3P(keys.petsemKey, DEFAULT_LOCATION));
}

/** `n` calls of `fn` by `callers` concurrent callers; wall time in ms. */
export async function drive(
  n: number,
  callers: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
  return performance.now() - t0;
}
