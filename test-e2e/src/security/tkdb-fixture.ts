/**
 * A tkdb process for the tkdb/strip/discharge attack tests: fresh keys and data folder, a signing
 * client allowed every op, the auth service's key (to log users in) and petsem's shared key (to make
 * reader tickets as petsem does). Everything else goes through @tkdb/client over HTTP/Noise.
 */
import { join } from "node:path";
import { ConfineOrganization, FlyioUserID, flyRegistry } from "@tkdb/caveats";
import { TkdbClient } from "@tkdb/client";
import {
  type Caveat,
  dischargeTicket,
  encodeAuthorizationHeader,
  Macaroon,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import { hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";

export const TKDB_LOCATION = "https://api.fly.io/v1";
export const AUTH_LOCATION = "https://api.fly.io/aaa/v1";
export const PETSEM_LOCATION = "https://api.fly.io/secrets/v1";

export type KeyPair = { secretKey: Uint8Array; publicKey: Uint8Array };

export interface Rig {
  dir: { path: string; remove(): void };
  env: Record<string, string>;
  tkdb: RunningService;
  /** Signing client listed with every op. */
  signer: KeyPair;
  authKey: Uint8Array;
  petsemShared: Uint8Array;
  admin: TkdbClient;
  /** A verification-API client (any key), as the API tier uses it for discharges. */
  verifier: TkdbClient;
  clientFor(key: KeyPair): TkdbClient;
  stop(): Promise<void>;
}

export interface RigOptions {
  /** Extra TKDB_SIGN_CLIENTS entries (the rig's signer comes first, with every op). */
  signClients?: string[];
  env?: Record<string, string>;
  /** Called with the rig's temp folder before tkdb starts (write config files there); returns more env. */
  prepare?: (root: string, dataDir: string) => Record<string, string>;
}

export async function startRig(prefix: string, opts: RigOptions = {}): Promise<Rig> {
  const dir = tempDir(prefix);
  const noise = x25519();
  const signer = x25519();
  const authKey = key32();
  const petsemShared = key32();
  const env: Record<string, string> = {
    TKDB_HOST: "127.0.0.1",
    TKDB_PORT: "0",
    TKDB_DATA_DIR: join(dir.path, "tkdb"),
    TKDB_KEK: hex(key32()),
    TKDB_NOISE_KEY: hex(noise.secretKey),
    TKDB_SIGN_CLIENTS: [
      `${hex(signer.publicKey)}:org_create+mint+revoke+strip`,
      ...(opts.signClients ?? []),
    ].join(","),
    TKDB_TP_KEYS: `${TKDB_LOCATION}=${hex(petsemShared)},${AUTH_LOCATION}=${hex(authKey)}`,
    ...(opts.env ?? {}),
  };
  Object.assign(env, opts.prepare?.(dir.path, env.TKDB_DATA_DIR as string) ?? {});
  let tkdb: RunningService;
  try {
    tkdb = await startService("tkdb", env);
  } catch (e) {
    dir.remove();
    throw e;
  }
  const endpoints = [{ url: tkdb.url, serverPublicKey: tkdb.publicKey }];
  const clientFor = (key: KeyPair) =>
    new TkdbClient({ endpoints, clientStaticKey: key, registry: flyRegistry });
  return {
    dir,
    env,
    tkdb,
    signer,
    authKey,
    petsemShared,
    admin: clientFor(signer),
    verifier: new TkdbClient({ endpoints, registry: flyRegistry }),
    clientFor,
    async stop() {
      await tkdb.stop();
      dir.remove();
    },
  };
}

/** The one token of a token string or header. */
export function one(token: string): Macaroon {
  const t = parseAuthorizationHeader(token, { registry: flyRegistry })[0];
  if (t?.kind !== "macaroon") throw new Error("not a token");
  return t.macaroon;
}

export const nowS = () => Math.floor(Date.now() / 1000);

export interface LoginOptions {
  /** Mint-time caveats (Go JSON); default: the org with every action and a 1 h window. */
  caveats?: unknown[];
  /** Fly user the auth service attests (FlyioUserID in its discharge); none if undefined. */
  userId?: bigint;
  /** Seconds the auth discharge stays valid (negative: already expired). Default 3600. */
  authValidFor?: number;
  /** More caveats the auth service puts in its discharge. */
  authCaveats?: Caveat[];
  /** Caveats the holder appends to the permission token before the auth caveat. */
  attenuate?: Caveat[];
}

export interface Login {
  header: string;
  permission: Macaroon;
  discharge: Macaroon;
  /** nonceId of the permission token. */
  nonce: string;
}

/** A user's bundle as Fly's login makes it: tkdb's token + the auth service's caveat + its discharge. */
export async function login(rig: Rig, org: bigint, opts: LoginOptions = {}): Promise<Login> {
  const now = nowS();
  const caveats = opts.caveats ?? [
    { type: "Organization", body: { id: Number(org), mask: "rwcdC" } },
    { type: "ValidityWindow", body: { not_before: now - 60, not_after: now + 3600 } },
  ];
  const { token, nonce } = await rig.admin.mint(org, caveats);
  const permission = one(token);
  if (opts.attenuate) permission.add(...opts.attenuate);
  const ticket = permission.add3P(rig.authKey, AUTH_LOCATION, [new ConfineOrganization(org)]);
  const { discharge } = dischargeTicket(rig.authKey, AUTH_LOCATION, ticket, { registry: flyRegistry });
  const validFor = BigInt(opts.authValidFor ?? 3600);
  discharge.add(new ValidityWindow(BigInt(now) - 60n, BigInt(now) + validFor), ...(opts.authCaveats ?? []));
  if (opts.userId !== undefined) discharge.add(new FlyioUserID(opts.userId));
  return { header: encodeAuthorizationHeader([permission, discharge]), permission, discharge, nonce };
}

/** A petsem-style reader token (petsem's own root key) with its 3P caveat at tkdb; its ticket. */
export function readerTicket(rig: Rig): { reader: Macaroon; root: Uint8Array; ticket: Uint8Array } {
  const root = key32();
  const reader = Macaroon.mint({
    key: root,
    kid: key32().slice(0, 16),
    location: PETSEM_LOCATION,
    registry: flyRegistry,
  });
  const ticket = reader.add3P(rig.petsemShared, TKDB_LOCATION);
  return { reader, root, ticket };
}

/** The remote error code of a refused call (throws if the call succeeds or fails otherwise). */
export async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NoiseRemoteError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected tkdb to refuse");
}
