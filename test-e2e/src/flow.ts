/**
 * The actors of the boot flow, shared by the end-to-end tests and `npm run demo`: a login
 * service (holds the key it shares with tkdb for the authentication third-party caveat), the API
 * server (holds petsem's writer token), flyd (holds petsem's reader token) and a machine.
 */
import { spawn } from "node:child_process";
import { flyRegistry, loginDischarge, SecretScope, userTokenCaveats } from "@tkdb/caveats";
import type { PetsemClient, TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader, type Macaroon, parseAuthorizationHeader } from "@tkdb/macaroon";

export const TKDB_LOCATION = "https://api.fly.io/v1";
export const AUTH_LOCATION = "https://api.fly.io/aaa/v1";

/** The one permission or discharge token in a header or token string. */
export function one(header: string): Macaroon {
  const t = parseAuthorizationHeader(header, { registry: flyRegistry })[0];
  if (t?.kind !== "macaroon") throw new Error("not a token");
  return t.macaroon;
}

export interface FlowActors {
  /** tkdb signing client (KK). */
  admin: TkdbClient;
  /** tkdb verification client (IK), as flyd uses it. */
  flyd: TkdbClient;
  secrets: PetsemClient;
  /** Key the login service shares with tkdb. */
  authKey: Uint8Array;
  writer: string;
  reader: Macaroon;
}

/** A user's token: minted by tkdb, confined by the login service's caveat, and discharged by it. */
export async function loginUser(
  a: FlowActors,
  org: bigint,
  userId: bigint,
): Promise<{ header: string; permission: Macaroon }> {
  // The same login as `tkdb dev login` (@tkdb/caveats login.ts).
  const { token } = await a.admin.mint(org, userTokenCaveats(org, Math.floor(Date.now() / 1000)));
  const permission = one(token);
  const discharge = loginDischarge(permission, {
    authKey: a.authKey,
    authLocation: AUTH_LOCATION,
    org,
    userId,
  });
  return { header: encodeAuthorizationHeader([permission, discharge]), permission };
}

/** What the API server sends per request: its writer token confined to one org and app. */
export function writerFor(a: FlowActors, org: bigint, app: bigint): string {
  const w = one(a.writer);
  w.add(new SecretScope(org, app));
  return encodeAuthorizationHeader([w]);
}

/**
 * What the deploy (or a write) gave the API server for flyd: the app version the boot must reach,
 * and its epoch. A bare number checks against petsem's current epoch only; pass the write's or
 * deploy's result (`{app_version | min_version, epoch}`) so a version lost in a restore or a
 * failover is refused (`stale`) instead of answered with the contents that reuse its number.
 */
export type MinVersion = number | { app_version?: number; min_version?: number; epoch?: unknown };

function minPair(m: MinVersion): [number, string | undefined] {
  if (typeof m === "number") return [m, undefined];
  const v = m.min_version ?? m.app_version;
  if (v === undefined) throw new Error("no app version to boot at");
  return [v, typeof m.epoch === "string" ? m.epoch : undefined];
}

/** flyd: a tkdb discharge for the reader's caveat, with the user's token, then resolve. */
export async function resolveForBoot(
  a: FlowActors,
  userHeader: string,
  org: bigint,
  app: bigint,
  min: MinVersion,
): Promise<Record<string, string>> {
  const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("reader token has no tkdb caveat");
  const discharge = await a.flyd.discharge({ ticket, userHeader, org, app });
  const header = encodeAuthorizationHeader([a.reader, one(discharge)]);
  const [minVersion, minEpoch] = minPair(min);
  const r = await a.secrets.resolve(header, org, app, minVersion, undefined, minEpoch);
  return Object.fromEntries(r.secrets.map((s) => [s.name, s.value]));
}

/** The machine: a real child process with the secrets in its environment. It proves it saw
 * DATABASE_URL by printing its SHA-256, never the value. */
export function startMachine(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "-e",
        "process.stdout.write(require('crypto').createHash('sha256').update(process.env.DATABASE_URL??'').digest('hex'))",
      ],
      { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`machine exited ${code}`))));
  });
}

export async function boot(a: FlowActors, userHeader: string, org: bigint, app: bigint, min: MinVersion) {
  return startMachine(await resolveForBoot(a, userHeader, org, app, min));
}
