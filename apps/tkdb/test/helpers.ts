import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Nonce } from "@tkdb/macaroon";
import { getNative, noiseCall } from "@tkdb/noise";
import { randomBytes } from "../src/crypto.js";
import { AUTH_LOCATION, DEFAULT_LOCATION, type TkdbConfig } from "../src/env.js";

export const nc = getNative()!;

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "tkdb-test-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A well-formed Fly nonce (random key id), as nonceId: what `revoke {nonce}` accepts. */
export function randomNonceId(): string {
  return Buffer.from(Nonce.create(randomBytes(16), false).encode()).toString("base64");
}

export interface Fixture {
  config: TkdbConfig;
  signClient: { publicKey: Uint8Array; secretKey: Uint8Array };
  authKey: Uint8Array;
  petsemKey: Uint8Array;
}

export function fixture(dir: string): Fixture {
  const signClient = nc.generateKeyPair();
  const authKey = randomBytes(32);
  const petsemKey = randomBytes(32);
  const config: TkdbConfig = {
    host: "127.0.0.1",
    port: 0,
    dbPath: join(dir, "tkdb.db"),
    noiseSecretKey: nc.generateKeyPair().secretKey,
    kek: randomBytes(32),
    signClients: [signClient.publicKey],
    location: DEFAULT_LOCATION,
    authLocation: AUTH_LOCATION,
    dischargeTtl: 60,
    thirdPartyKeys: new Map([
      [AUTH_LOCATION, authKey],
      [DEFAULT_LOCATION, petsemKey],
    ]),
    log: { write: () => {} },
  };
  return { config, signClient, authKey, petsemKey };
}

export function caller(
  url: string,
  serverPublicKey: Uint8Array,
  signKey?: { publicKey: Uint8Array; secretKey: Uint8Array },
) {
  return {
    verify: <T = unknown>(op: string, args: Record<string, unknown>) =>
      noiseCall<T>({ url, api: "verify", op, args, pattern: "IK", serverPublicKey }),
    sign: <T = unknown>(op: string, args: Record<string, unknown>, rid?: string) =>
      noiseCall<T>({
        url,
        api: "sign",
        op,
        args,
        pattern: "KK",
        serverPublicKey,
        clientStaticKey: signKey!,
        ...(rid ? { rid } : {}),
      }),
  };
}
