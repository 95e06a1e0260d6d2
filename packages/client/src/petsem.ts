/**
 * Typed calls for petsem (Noise IK, `POST /noise/v1/secrets/<op>`). Every call carries a petsem
 * token (`FlyV1 …` header: the writer, or the reader plus its tkdb discharge) inside the encrypted
 * request. Only `resolve` ever returns secret values.
 */
import { ClientError } from "./errors.js";
import { NoiseRpc, type RpcOptions } from "./rpc.js";
import type { Id } from "./tkdb.js";

const idStr = (v: Id): string => (typeof v === "string" ? v : BigInt(v).toString());

export interface SecretMeta {
  name: string;
  digest: string;
  version: number;
  [k: string]: unknown;
}

export interface WriteResult {
  app_version: number;
  [k: string]: unknown;
}

/** An app's deploy record: the app version the next boot must reach, and when it was recorded. */
export interface DeployRecord {
  min_version: number;
  deployed_at: string;
  [k: string]: unknown;
}

/** One kept version of a secret (never its value). */
export interface SecretVersion {
  version: number;
  app_version: number;
  created_at: string;
  deleted: boolean;
  digest: string | null;
  [k: string]: unknown;
}

export interface ResolveResult {
  app_version: number;
  /** the epoch of `app_version` (petsem mints a new one at every restore or promotion) */
  epoch?: string;
  secrets: { name: string; version: number; value: string }[];
  missing?: string[];
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function badResponse(message: string): ClientError {
  return new ClientError("bad_response", message);
}

/**
 * A value as petsem sends it: standard base64 of its UTF-8 (`value_b64`; bounded size whatever
 * the bytes). Decoded strictly, without Buffer, so the client runs anywhere. Errors never quote it.
 */
function decodeValue(entry: Record<string, unknown>): string {
  const b64 = entry.value_b64;
  // A petsem from before value_b64 sent the string itself.
  if (b64 === undefined && typeof entry.value === "string") return entry.value;
  if (typeof b64 !== "string" || !BASE64_RE.test(b64)) throw badResponse("resolve: a value is not base64");
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw badResponse("resolve: a value is not UTF-8");
  } finally {
    bytes.fill(0);
  }
}

function decodeResolve(raw: unknown): ResolveResult {
  const r = raw as { app_version?: unknown; secrets?: unknown; missing?: unknown } | null;
  if (typeof r !== "object" || r === null || typeof r.app_version !== "number" || !Array.isArray(r.secrets))
    throw badResponse("resolve: malformed result");
  const secrets = r.secrets.map((s: unknown) => {
    const e = s as Record<string, unknown> | null;
    if (typeof e !== "object" || e === null || typeof e.name !== "string" || typeof e.version !== "number")
      throw badResponse("resolve: malformed secret");
    return { name: e.name, version: e.version, value: decodeValue(e) };
  });
  const out: ResolveResult = { app_version: r.app_version, secrets };
  if (typeof (r as { epoch?: unknown }).epoch === "string") out.epoch = (r as { epoch: string }).epoch;
  if (Array.isArray(r.missing)) out.missing = r.missing.filter((n): n is string => typeof n === "string");
  return out;
}

export class PetsemClient {
  private readonly rpc: NoiseRpc;
  constructor(opts: RpcOptions) {
    this.rpc = new NoiseRpc(opts);
  }

  /** Atomic batch: a string sets a value, null unsets it. */
  set(
    token: string,
    org: Id,
    app: Id,
    values: Record<string, string | null>,
    opts: { expectedAppVersion?: number; cas?: Record<string, number> } = {},
  ): Promise<WriteResult> {
    return this.rpc.call(
      "secrets",
      "set",
      {
        token,
        org: idStr(org),
        app: idStr(app),
        values,
        ...(opts.cas ? { cas: opts.cas } : {}),
        ...(opts.expectedAppVersion !== undefined ? { expected_app_version: opts.expectedAppVersion } : {}),
      },
      { mutating: true },
    );
  }

  unset(token: string, org: Id, app: Id, names: string[]): Promise<WriteResult> {
    return this.rpc.call(
      "secrets",
      "unset",
      { token, org: idStr(org), app: idStr(app), names },
      { mutating: true },
    );
  }

  /** Names, versions and digests (a random id per version, unrelated to the value); never values. */
  list(
    token: string,
    org: Id,
    app: Id,
    minVersion?: number,
  ): Promise<{ app_version: number; secrets: SecretMeta[]; deployed?: DeployRecord | null }> {
    return this.rpc.call("secrets", "list", {
      token,
      org: idStr(org),
      app: idStr(app),
      ...(minVersion !== undefined ? { min_version: minVersion } : {}),
    });
  }

  /** A new version with an earlier version's value, without the value leaving petsem. */
  rollback(
    token: string,
    org: Id,
    app: Id,
    name: string,
    toVersion: number,
    cas?: number,
  ): Promise<WriteResult> {
    return this.rpc.call(
      "secrets",
      "rollback",
      {
        token,
        org: idStr(org),
        app: idStr(app),
        name,
        to_version: toVersion,
        ...(cas !== undefined ? { cas } : {}),
      },
      { mutating: true },
    );
  }

  /**
   * Records the app version the next boot must reach (the app's deploy record; default: its current
   * version). Needs the writer's `set` right; idempotent across retries (one rid).
   */
  deploy(
    token: string,
    org: Id,
    app: Id,
    minVersion?: number,
  ): Promise<WriteResult & DeployRecord & { changed: boolean }> {
    return this.rpc.call(
      "secrets",
      "deploy",
      {
        token,
        org: idStr(org),
        app: idStr(app),
        ...(minVersion !== undefined ? { min_version: minVersion } : {}),
      },
      { mutating: true },
    );
  }

  /** One secret's kept versions, newest first, with times; never values. */
  history(
    token: string,
    org: Id,
    app: Id,
    name: string,
  ): Promise<{
    app_version: number;
    name: string;
    current_version: number;
    live: boolean;
    versions: SecretVersion[];
  }> {
    return this.rpc.call("secrets", "history", { token, org: idStr(org), app: idStr(app), name });
  }

  /**
   * The only call that returns values: `header` is the reader token with its tkdb discharge; the
   * store must be at `minVersion` or later, or petsem refuses (`stale`) rather than answer older values.
   * `minEpoch`: the epoch a write returned with `minVersion`; a version lost in a restore is then
   * refused (`stale`, details `lost`) rather than answered with the contents that reuse its number.
   * petsem sends values as base64; they are returned decoded, as strings.
   */
  async resolve(
    header: string,
    org: Id,
    app: Id,
    minVersion: number,
    names?: string[],
    minEpoch?: string,
  ): Promise<ResolveResult> {
    const raw = await this.rpc.call<unknown>("secrets", "resolve", {
      token: header,
      org: idStr(org),
      app: idStr(app),
      min_version: minVersion,
      ...(names ? { names } : {}),
      ...(minEpoch !== undefined ? { min_epoch: minEpoch } : {}),
    });
    return decodeResolve(raw);
  }

  health(): Promise<{ status: string }> {
    return this.rpc.call("secrets", "health", {});
  }
}
