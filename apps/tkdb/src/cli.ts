/**
 * tkdb CLI (run with tsx: `pnpm tkdb <command>`). Exit codes: 0 ok, 1 refused/failed, 2 usage.
 *
 *   keygen                                   new Noise static key pair (base64url and hex) + a KEK
 *   serve                                    run the service (config from TKDB_* env, see env.ts)
 * Local admin commands (act on TKDB_DATA_DIR's database directly with TKDB_KEK; audited as cli:<user>):
 *   org create <org>                         create an org root key (idempotent)
 *   token mint --org <id> [--caveats <json>] mint a permission token
 *   token revoke <nonceId|token|header>      revoke a nonce's whole lineage and the service tokens
 *                                            strip made from it
 * Offline:
 *   token inspect <token|header>             decode without verifying (like `fly tokens debug`)
 *   token attenuate <token> <caveats-json>   append caveats locally
 * Online (TKDB_URL, TKDB_SERVER_PUBLIC_KEY, TKDB_CLIENT_KEY for strip):
 *   token verify <header>                    verify
 *   token strip <header>                     permission token + auth discharge → service token
 *   audit verify                             check the audit hash chain
 *   audit export [index]                     audit as OpenSearch bulk JSON lines on stdout
 *   backup restore --timestamp T [--output F]  Litestream point-in-time restore
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { flyRegistry } from "@tkdb/caveats";
import {
  base64Encode,
  caveatSetFromJSON,
  caveatSetToJSON,
  Macaroon,
  parseAuthorizationHeader,
  stringifyJSON,
} from "@tkdb/macaroon";
import { getNative, noiseCall } from "@tkdb/noise";
import { toOpenSearchBulk } from "./audit.js";
import { native, randomBytes, x25519KeyPair } from "./crypto.js";
import { dbPathFromEnv, litestreamConfigFromEnv, loadCliClientConfig, loadServiceConfig } from "./env.js";
import { TkdbError } from "./errors.js";
import { assertPrimary } from "./litefs.js";
import { restore } from "./litestream.js";
import { runMutation } from "./mutate.js";
import { serve } from "./serve.js";
import { type AuditInput, DrizzleStore, verifyAuditChain } from "./store.js";
import { TokenService } from "./tokens.js";

class UsageError extends Error {}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");

/** Runs one mutating op on the local database (KEK checked first), audited as cli:<user>. */
function admin<R>(op: string, fn: (svc: TokenService) => [R, AuditInput]): R {
  const config = loadServiceConfig();
  assertPrimary(config.litefsDir);
  const store = new DrizzleStore(config.dbPath, native);
  try {
    const svc = new TokenService(store, config, native);
    svc.checkKek();
    let user = "unknown";
    try {
      user = userInfo().username;
    } catch {
      // no passwd entry: keep "unknown"
    }
    return runMutation({ store, op, actor: `cli:${user}`, now: Date.now() }, () => fn(svc));
  } finally {
    store.close();
  }
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? need(args[i + 1], `${name} value`) : undefined;
}

/** Readable, unverified view of every token in a header (like `fly tokens debug`). */
function inspect(input: string): unknown {
  const parsed = parseAuthorizationHeader(input, { registry: flyRegistry });
  return parsed.map((t) => {
    if (t.kind !== "macaroon")
      return { kind: t.kind, error: t.kind === "malformed" ? t.error.code : undefined };
    const m = t.macaroon;
    return {
      unverified: true,
      location: m.location,
      nonce: base64Encode(m.nonce.encode()),
      kid: hex(m.nonce.kid),
      proof: m.nonce.proof,
      caveats: caveatSetToJSON(m.unsafeCaveats, flyRegistry),
    };
  });
}
const out = (v: unknown) =>
  process.stdout.write(`${typeof v === "string" ? v : JSON.stringify(v, null, 2)}\n`);

function need(v: string | undefined, what: string): string {
  if (v === undefined || v === "") throw new UsageError(`missing ${what}`);
  return v;
}

function parseJSON(s: string, what: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw new UsageError(`${what} is not valid JSON`);
  }
}

async function call(api: "verify" | "sign", op: string, args: Record<string, unknown>): Promise<unknown> {
  const c = loadCliClientConfig();
  if (c.serverPublicKey === undefined) throw new UsageError("set TKDB_SERVER_PUBLIC_KEY (hex)");
  if (api === "verify")
    return noiseCall({ url: c.url, api, op, args, pattern: "IK", serverPublicKey: c.serverPublicKey });
  if (c.clientSecretKey === undefined) throw new UsageError("set TKDB_CLIENT_KEY (hex) for signing commands");
  const nc = getNative()!;
  const clientStaticKey = { secretKey: c.clientSecretKey, publicKey: nc.publicKeyOf(c.clientSecretKey) };
  return noiseCall({
    url: c.url,
    api,
    op,
    args,
    pattern: "KK",
    serverPublicKey: c.serverPublicKey,
    clientStaticKey,
  });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  switch (`${cmd ?? ""} ${sub ?? ""}`.trim()) {
    case "keygen": {
      const kp = x25519KeyPair();
      out({
        noisePrivateKey: b64u(kp.secretKey),
        noisePublicKey: b64u(kp.publicKey),
        noisePrivateKeyHex: hex(kp.secretKey),
        noisePublicKeyHex: hex(kp.publicKey),
        kek: b64u(randomBytes(32)),
      });
      return 0;
    }
    case "serve":
      await serve();
      return -1;
    case "org create": {
      const org = need(rest[0], "<org>");
      out(admin("org_create", (svc) => svc.orgCreate({ org })));
      return 0;
    }
    case "token mint": {
      const org = flag(rest, "--org") ?? need(rest[0]?.startsWith("--") ? undefined : rest[0], "--org <id>");
      const cj = flag(rest, "--caveats") ?? (rest[0]?.startsWith("--") ? undefined : rest[1]) ?? "[]";
      const caveats = parseJSON(cj, "caveats");
      out(admin("mint", (svc) => svc.mint({ org, caveats })));
      return 0;
    }
    case "token attenuate": {
      const m = Macaroon.fromStringUnverified(need(rest[0], "<token>"), { registry: flyRegistry });
      m.add(...caveatSetFromJSON(parseJSON(need(rest[1], "<caveats-json>"), "caveats"), flyRegistry));
      out(m.toString());
      return 0;
    }
    case "token inspect": {
      const tokens = inspect(need(rest[0], "<token|header>"));
      out(stringifyJSON(Array.isArray(tokens) && tokens.length === 1 ? tokens[0] : tokens));
      return 0;
    }
    case "token verify":
      out(await call("verify", "verify", { header: need(rest[0], "<header>") }));
      return 0;
    case "token revoke": {
      const target = need(rest[0], "<nonceId|token|header>");
      const args = /^(FlyV1 |Bearer |fm[12]_)/i.test(target) ? { token: target } : { nonce: target };
      out(admin("revoke", (svc) => svc.revoke(args)));
      return 0;
    }
    case "token strip":
      out(await call("sign", "strip", { header: need(rest[0], "<header>") }));
      return 0;
    case "audit verify":
    case "audit export": {
      const path = dbPathFromEnv();
      if (!existsSync(path)) throw new TkdbError("storage", `no database at ${path}`);
      const store = new DrizzleStore(path, native);
      try {
        const records = store.auditRecords();
        if (sub === "export") {
          process.stdout.write(toOpenSearchBulk(records, rest[0]));
          return 0;
        }
        const broken = verifyAuditChain(native, records);
        if (broken !== null) throw new TkdbError("audit_broken", `audit chain broken at seq ${broken}`);
        out({ ok: true, records: records.length });
        return 0;
      } finally {
        store.close();
      }
    }
    case "backup restore": {
      const i = rest.indexOf("--timestamp");
      const o = rest.indexOf("--output");
      const configPath = litestreamConfigFromEnv();
      if (configPath === undefined) throw new UsageError("set TKDB_LITESTREAM_CONFIG");
      const dbPath = dbPathFromEnv();
      const outPath = o >= 0 ? need(rest[o + 1], "--output file") : `${dbPath}.restored`;
      const timestamp = i >= 0 ? need(rest[i + 1], "--timestamp value") : undefined;
      if (timestamp !== undefined && Number.isNaN(Date.parse(timestamp)))
        throw new UsageError("--timestamp must be RFC 3339, e.g. 2026-01-02T03:04:05Z");
      await restore({ configPath, dbPath, outPath, ...(timestamp ? { timestamp } : {}) });
      out({ restored: outPath });
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${argv.join(" ")}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: unknown; message?: unknown };
    const usage = err instanceof UsageError;
    process.stderr.write(
      `tkdb: ${usage ? "usage: " : ""}${typeof e.code === "string" ? `${e.code}: ` : ""}${String(e.message ?? err)}\n`,
    );
    process.exitCode = usage ? 2 : 1;
  },
);
