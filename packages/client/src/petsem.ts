/**
 * Typed calls for petsem (Noise IK, `POST /noise/v1/secrets/<op>`). Every call carries a petsem
 * token (`FlyV1 …` header: the writer, or the reader plus its tkdb discharge) inside the encrypted
 * request. Only `resolve` ever returns secret values.
 */
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

export interface ResolveResult {
  app_version: number;
  secrets: { name: string; version: number; value: string }[];
  missing?: string[];
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

  /** Names, versions and keyed digests; never values. */
  list(
    token: string,
    org: Id,
    app: Id,
    minVersion?: number,
  ): Promise<{ app_version: number; secrets: SecretMeta[] }> {
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
   * The only call that returns values: `header` is the reader token with its tkdb discharge; the
   * store must be at `minVersion` or later, or petsem refuses (`stale`) rather than answer older values.
   */
  resolve(header: string, org: Id, app: Id, minVersion: number, names?: string[]): Promise<ResolveResult> {
    return this.rpc.call("secrets", "resolve", {
      token: header,
      org: idStr(org),
      app: idStr(app),
      min_version: minVersion,
      ...(names ? { names } : {}),
    });
  }

  health(): Promise<{ status: string }> {
    return this.rpc.call("secrets", "health", {});
  }
}
