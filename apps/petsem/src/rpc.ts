/**
 * petsem's RPC surface over HTTP/Noise IK: `POST /noise/v1/secrets/<op>`, op ∈ set, unset, list,
 * rollback, resolve, health (DESIGN.md "HTTP/Noise framing"; secrets-model.md §5.2).
 *
 * Every op but `health` carries its petsem macaroon inside the encrypted args as `args.token`
 * (`FlyV1 <petsem token>[,<discharge>…]`) and is authorized before the store is touched. Arguments
 * are parsed from `unknown` into typed values; anything else is `invalid_request`. Mutating ops
 * record `(client key, rid)` with their result in the store's write transaction, so a replayed rid
 * gets the stored result. `resolve` returns values as standard base64 (`value_b64`), which
 * `@tkdb/client` decodes.
 */
import type { NoiseOp, NoiseOpContext } from "@tkdb/noise";
import { PetsemError } from "./errors.js";
import type { CallContext, SecretStore } from "./store.js";

/** The operations a token can allow (SecretOps bits). */
export type PetsemOp = "set" | "unset" | "list" | "rollback" | "resolve";

export interface Authorization {
  /** non-secret identity of the caller's token for the audit (e.g. its nonce, hex) */
  readonly actor: string;
  /** resolve: who released the read, as tkdb's discharge states it (user, token and discharge nonces) */
  readonly principal?: Readonly<Record<string, string>>;
}

/** Declared where it is used: decides whether `header` may do `op` on (org, app). Throws
 * PetsemError "unauthorized" (no valid token) or "forbidden" (valid token, not allowed). */
export interface Authorizer {
  authorize(header: string, ops: readonly PetsemOp[], org: bigint, app: bigint): Authorization;
}

const U64_MAX = (1n << 64n) - 1n;

function bad(message: string): PetsemError {
  return new PetsemError("invalid_request", message);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

/** org/app ids: a decimal string (preferred: u64 exceeds 2^53) or a safe integer. */
function parseId(v: unknown, what: "org" | "app"): bigint {
  let id: bigint | null = null;
  if (typeof v === "string" && /^[0-9]{1,20}$/.test(v)) id = BigInt(v);
  else if (typeof v === "number" && Number.isSafeInteger(v)) id = BigInt(v);
  if (id === null || id < 1n || id > U64_MAX) throw bad(`${what} must be an id in 1..2^64-1`);
  return id;
}

function optVersion(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  return version(v, what);
}

function version(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw bad(`${what} must be a non-negative integer`);
  return v;
}

function stringArray(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw bad(`${what} must be an array of strings`);
  return v as string[];
}

function token(args: Record<string, unknown>): string {
  const t = args.token;
  if (typeof t !== "string" || t.length === 0) {
    throw new PetsemError("unauthorized", "a petsem token is required in args.token");
  }
  return t;
}

/** Standard base64 of a value's UTF-8; the intermediate bytes are wiped. */
function toBase64(value: string): string {
  const bytes = Buffer.from(value, "utf8");
  const out = bytes.toString("base64");
  bytes.fill(0);
  return out;
}

function entries(v: unknown, what: string): Map<string, unknown> {
  return new Map(Object.entries(obj(v, what)));
}

export interface RpcOptions {
  readonly store: SecretStore;
  readonly authorizer: Authorizer;
}

/** The op table handed to `createNoiseHandler`. */
export function petsemOps({ store, authorizer }: RpcOptions): Record<string, NoiseOp> {
  const mutating = (ctx: NoiseOpContext, auth: Authorization): CallContext => ({
    requestId: ctx.rid,
    actor: auth.actor,
    idempotency: { clientKey: ctx.clientKeyBase64Url, rid: ctx.rid },
  });

  return {
    health: async () => ({ status: "ok" }),

    set: async (ctx) => {
      const a = ctx.args;
      const org = parseId(a.org, "org");
      const app = parseId(a.app, "app");
      const raw = entries(a.values, "values");
      const values = new Map<string, string | null>();
      for (const [k, v] of raw) {
        if (v !== null && typeof v !== "string") throw bad("values must map names to strings or null");
        values.set(k, v);
      }
      const cas = new Map<string, number>();
      if (a.cas !== undefined && a.cas !== null) {
        for (const [k, v] of entries(a.cas, "cas")) cas.set(k, version(v, "cas"));
      }
      const ops: PetsemOp[] = [];
      if ([...values.values()].some((v) => v !== null)) ops.push("set");
      if ([...values.values()].some((v) => v === null)) ops.push("unset");
      if (ops.length === 0) ops.push("set");
      const auth = authorizer.authorize(token(a), ops, org, app);
      const expectedAppVersion = optVersion(a.expected_app_version, "expected_app_version");
      return store.set(
        { org, app, values, cas, ...(expectedAppVersion === undefined ? {} : { expectedAppVersion }) },
        mutating(ctx, auth),
      );
    },

    unset: async (ctx) => {
      const a = ctx.args;
      const org = parseId(a.org, "org");
      const app = parseId(a.app, "app");
      const names = stringArray(a.names, "names");
      const auth = authorizer.authorize(token(a), ["unset"], org, app);
      const expectedAppVersion = optVersion(a.expected_app_version, "expected_app_version");
      return store.unset(
        { org, app, names, ...(expectedAppVersion === undefined ? {} : { expectedAppVersion }) },
        mutating(ctx, auth),
      );
    },

    list: async (ctx) => {
      const a = ctx.args;
      const org = parseId(a.org, "org");
      const app = parseId(a.app, "app");
      authorizer.authorize(token(a), ["list"], org, app);
      const minVersion = optVersion(a.min_version, "min_version");
      return store.list({ org, app, ...(minVersion === undefined ? {} : { minVersion }) });
    },

    rollback: async (ctx) => {
      const a = ctx.args;
      const org = parseId(a.org, "org");
      const app = parseId(a.app, "app");
      if (typeof a.name !== "string") throw bad("name must be a string");
      const toVersion = version(a.to_version, "to_version");
      const cas = optVersion(a.cas, "cas");
      const auth = authorizer.authorize(token(a), ["rollback"], org, app);
      return store.rollback(
        { org, app, name: a.name, toVersion, ...(cas === undefined ? {} : { cas }) },
        mutating(ctx, auth),
      );
    },

    resolve: async (ctx) => {
      const a = ctx.args;
      const org = parseId(a.org, "org");
      const app = parseId(a.app, "app");
      if (a.min_version === undefined) throw bad("min_version is required");
      const minVersion = version(a.min_version, "min_version");
      const names = a.names === undefined || a.names === null ? null : stringArray(a.names, "names");
      const auth = authorizer.authorize(token(a), ["resolve"], org, app);
      const r = store.resolve(
        { org, app, names, minVersion },
        {
          requestId: ctx.rid,
          actor: auth.actor,
          ...(auth.principal === undefined ? {} : { principal: auth.principal }),
        },
      );
      // Values travel as base64: 4/3 of their bytes whatever they hold (JSON escapes of control
      // characters would grow them 6×), so the worst case stays under MAX_RESPONSE_BYTES (item 6).
      return {
        app_version: r.app_version,
        secrets: r.secrets.map((x) => ({ name: x.name, version: x.version, value_b64: toBase64(x.value) })),
        missing: r.missing,
      };
    },
  };
}
