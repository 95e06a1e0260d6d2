/**
 * infra/ agrees with the apps: the deployment files (Dockerfiles, fly.toml, litefs.yml,
 * litestream.yml, entrypoint, KEYS.md) are read as text and checked against each app's
 * configuration module (apps/<app>/src/env.ts, the only reader of process.env) and the root
 * package.json. Nothing here builds an image or talks to Fly: it catches drift (a renamed or
 * typo'd variable, a port or directory that no longer matches, a secret that slipped into a file).
 *
 * TOML and YAML are parsed with smol-toml and yaml; a file they cannot read fails the test.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CachingVerifier } from "@tkdb/client";
import { createServiceMetrics, registerVerifierMetrics } from "@tkdb/service";
import { parse as parseTomlText } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const INFRA = join(ROOT, "infra");

function read(...parts: string[]): string {
  return readFileSync(join(ROOT, ...parts), "utf8");
}

// ---------------------------------------------------------------------------------------------
// TOML and YAML are read with smol-toml and yaml (strict: a duplicate key or a syntax error throws,
// so a file they cannot read fails the test instead of being half-read).

type Value = string | number | boolean | Value[] | Table;
interface Table {
  [key: string]: Value;
}
type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

function isTable(v: Value | undefined): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses TOML; an error names the file. */
function parseToml(text: string, name: string): Table {
  try {
    return parseTomlText(text) as unknown as Table;
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
}

/** Parses YAML strictly: duplicate keys and syntax errors throw, naming the file. */
function parseYaml(text: string, name: string): Yaml {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0]?.message}`);
  return doc.toJS() as Yaml;
}

/** `get(doc, "proxy", "addr")`, `get(doc, "dbs", 0, "path")`: a string, or a failed expectation. */
function get(doc: Yaml | Value, ...path: (string | number)[]): string {
  let v: unknown = doc;
  for (const k of path) {
    if (typeof k === "number") v = Array.isArray(v) ? v[k] : undefined;
    else
      v =
        typeof v === "object" && v !== null && !Array.isArray(v)
          ? (v as Record<string, unknown>)[k]
          : undefined;
  }
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`no scalar at ${path.join(".")}`);
}

// ---------------------------------------------------------------------------------------------
// Dockerfiles: ARG/ENV after joining `\` continuations.

interface Dockerfile {
  lines: string[];
  args: Map<string, string>;
  env: Map<string, string>;
}

function parseDockerfile(text: string): Dockerfile {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const args = new Map<string, string>();
  const env = new Map<string, string>();
  for (const l of lines) {
    const arg = /^ARG\s+([A-Z0-9_]+)=(\S+)$/.exec(l);
    if (arg?.[1] && arg[2]) args.set(arg[1], arg[2]);
    if (l.startsWith("ENV ")) {
      for (const m of l.slice(4).matchAll(/([A-Za-z0-9_]+)=("[^"]*"|\S+)/g)) {
        if (m[1] && m[2]) env.set(m[1], m[2].replace(/^"|"$/g, ""));
      }
    }
  }
  return { lines, args, env };
}

// ---------------------------------------------------------------------------------------------
// The files under test.

const APPS = ["tkdb", "petsem"] as const;
type App = (typeof APPS)[number];
const PREFIX: Record<App, string> = { tkdb: "TKDB_", petsem: "PETSEM_" };

/** apps/<app>/src/env.ts, read when a test needs it (a missing module fails those tests only). */
function envSource(app: App): string {
  return read("apps", app, "src", "env.ts");
}
/** All TypeScript under apps/<app>/src, to find a literal (a database file name, a command). */
function appSource(app: App): string {
  const dir = join(ROOT, "apps", app, "src");
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) out.push(readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return out.join("\n");
}

const fly: Record<App, Table> = {
  tkdb: parseToml(read("infra", "tkdb", "fly.toml"), "tkdb/fly.toml"),
  petsem: parseToml(read("infra", "petsem", "fly.toml"), "petsem/fly.toml"),
};
const docker: Record<App, Dockerfile> = {
  tkdb: parseDockerfile(read("infra", "tkdb", "Dockerfile")),
  petsem: parseDockerfile(read("infra", "petsem", "Dockerfile")),
};
const litefsText = read("infra", "tkdb", "litefs.yml");
const litefs = parseYaml(litefsText, "litefs.yml");
const litestreamText = read("infra", "petsem", "litestream.yml");
const litestream = parseYaml(litestreamText, "litestream.yml");
const entrypoint = read("infra", "petsem", "entrypoint.sh");
const keysMd = read("infra", "KEYS.md");
const shipper = read("infra", "audit", "with-shipper.sh");
const vectorText = read("infra", "audit", "vector.yaml");
const vector = parseYaml(vectorText, "vector.yaml");
const rootPackage = JSON.parse(read("package.json")) as { packageManager: string; engines: { node: string } };

function flyEnv(app: App): Record<string, string> {
  const env = fly[app].env;
  if (!isTable(env)) throw new Error(`${app}/fly.toml has no [env]`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== "string") throw new Error(`${app}/fly.toml [env] ${k} must be a string`);
    out[k] = v;
  }
  return out;
}

function services(app: App): Table[] {
  const s = fly[app].services;
  if (!Array.isArray(s) || s.length === 0) throw new Error(`${app}/fly.toml has no [[services]]`);
  return s.filter(isTable);
}

/** Every text file under infra/ (Dockerfiles, TOML, YAML, shell, Markdown). */
function infraFiles(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ name: p.slice(INFRA.length + 1), text: readFileSync(p, "utf8") });
    }
  };
  walk(INFRA);
  return out;
}

/**
 * Whether `name` is a variable the app's env module reads. `X_FILE` counts when `X` is read and
 * the module derives `${name}_FILE` (petsem's readKey) or spells `X_FILE` out.
 */
function envModuleReads(app: App, name: string): boolean {
  const src = envSource(app);
  const quoted = (n: string): boolean =>
    new RegExp(`["'\`]${n}["'\`]`).test(src) || new RegExp(`\\benv\\.${n}\\b`).test(src);
  if (quoted(name)) return true;
  if (name.endsWith("_FILE")) {
    const base = name.slice(0, -"_FILE".length);
    return quoted(base) && src.includes("_FILE");
  }
  return false;
}

/** Names the env module reads that hold key material: *_KEK, *_KEY, *_KEYS. */
function secretNames(app: App): string[] {
  const names = new Set<string>();
  for (const m of envSource(app).matchAll(new RegExp(`\\b${PREFIX[app]}[A-Z0-9_]+\\b`, "g"))) {
    const n = m[0];
    if (/_(KEK|KEY|KEYS)$/.test(n) && !n.includes("PUBLIC")) names.add(n);
  }
  return [...names].sort();
}

/** Non-app variables infra/ may name, and who reads them. */
const PLATFORM_VARS: Record<string, string> = {
  NODE_ENV: "Node",
  CI: "pnpm (build stage: non-interactive, frozen lockfile)",
  FLY_REGION: "Fly runtime",
  PRIMARY_REGION: "Fly runtime (fly.toml primary_region)",
  FLY_APP_NAME: "Fly runtime",
  HOSTNAME: "Fly runtime",
  FLY_CONSUL_URL: "fly consul attach (a secret)",
  LITESTREAM_ACCESS_KEY_ID: "Litestream (a secret)",
  LITESTREAM_SECRET_ACCESS_KEY: "Litestream (a secret)",
};

/** The literal text `${NAME}` (an environment reference in a config file). */
const envRef = (name: string): string => "$" + "{" + name + "}";

const portOf = (hostport: string): number => Number(/:(\d+)$/.exec(hostport)?.[1] ?? Number.NaN);

// ---------------------------------------------------------------------------------------------

describe("infra/ agrees with the apps' configuration modules", () => {
  it("every TKDB_* and PETSEM_* variable named anywhere in infra/ is read by that app's env.ts", () => {
    const unknown: string[] = [];
    for (const { name, text } of infraFiles()) {
      for (const app of APPS) {
        for (const m of text.matchAll(new RegExp(`\\b${PREFIX[app]}[A-Z0-9_]*[A-Z0-9]\\b`, "g"))) {
          if (!envModuleReads(app, m[0])) unknown.push(`${m[0]} (in infra/${name})`);
        }
      }
    }
    expect([...new Set(unknown)]).toEqual([]);
  });

  it("every other variable set or expanded by fly.toml, the Dockerfiles and the YAML files is a known platform or Litestream variable", () => {
    const names = new Set<string>();
    for (const app of APPS) {
      for (const k of Object.keys(flyEnv(app))) names.add(k);
      for (const k of docker[app].env.keys()) names.add(k);
    }
    // every scalar of the parsed files (comments are not scalars, so they cannot match)
    for (const text of [litefs, litestream].map((doc) => JSON.stringify(doc))) {
      for (const m of text.matchAll(/\$\{([A-Z0-9_]+)/g)) if (m[1]) names.add(m[1]);
      for (const m of text.matchAll(/\$\{[A-Z0-9_]+\s*[=!]=\s*([A-Z][A-Z0-9_]*)\}/g))
        if (m[1]) names.add(m[1]);
    }
    const stray = [...names].filter(
      (n) => !n.startsWith("TKDB_") && !n.startsWith("PETSEM_") && !(n in PLATFORM_VARS),
    );
    expect(stray).toEqual([]);
  });

  it("Litestream's credentials are secrets: documented in KEYS.md, in neither fly.toml nor litestream.yml", () => {
    const env = flyEnv("petsem");
    for (const secret of ["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"]) {
      expect(Object.keys(env)).not.toContain(secret);
      expect(keysMd).toContain(`${secret}=`);
    }
    expect(litestreamText).not.toMatch(/^\s*(access-key-id|secret-access-key)\s*:/m);
    // no credentials inside a URL either
    expect(Object.values(env).some((v) => /:\/\/[^/\s]*:[^/\s]*@/.test(v))).toBe(false);
  });

  it.each(APPS)(
    "%s: every key variable of the env module is in KEYS.md, provisioned by `fly secrets set` or marked client-side",
    (app) => {
      const secrets = secretNames(app);
      expect(secrets).toEqual(expect.arrayContaining([`${PREFIX[app]}KEK`, `${PREFIX[app]}NOISE_KEY`]));
      const lines = keysMd.split("\n");
      for (const s of secrets) {
        const provisioned = lines.some((l) => l.includes("fly secrets set") && l.includes(`${s}=`));
        const clientSide = lines.some((l) => l.includes(`\`${s}\``) && l.includes("never on the server"));
        expect(
          provisioned || clientSide,
          `KEYS.md has neither \`fly secrets set … ${s}=\` nor marks it client-side`,
        ).toBe(true);
      }
      // the KEK and the Noise key are always server secrets
      for (const s of [`${PREFIX[app]}KEK`, `${PREFIX[app]}NOISE_KEY`]) {
        expect(
          lines.some((l) => l.includes("fly secrets set") && l.includes(`${s}=`)),
          s,
        ).toBe(true);
      }
    },
  );

  it.each(APPS)(
    "%s: no secret is set in fly.toml [env] or a Dockerfile ENV, and no [env] value looks like key material",
    (app) => {
      const set = [...Object.keys(flyEnv(app)), ...docker[app].env.keys()];
      for (const s of secretNames(app)) {
        expect(set, s).not.toContain(s);
        expect(set, `${s}_FILE`).not.toContain(`${s}_FILE`);
      }
      for (const [k, v] of [...Object.entries(flyEnv(app)), ...docker[app].env.entries()]) {
        // 32 bytes as hex / base64url / base64: what keygen prints
        expect(
          /\b[0-9a-fA-F]{64}\b|[A-Za-z0-9_-]{43}|[A-Za-z0-9+/]{43}=/.test(v),
          `${k} holds key material`,
        ).toBe(false);
      }
    },
  );

  it("petsem: fly.toml's internal port is the port petsem is told to listen on, on all interfaces", () => {
    const env = flyEnv("petsem");
    const [svc] = services("petsem");
    expect(svc?.internal_port).toBe(Number(env.PETSEM_PORT));
    expect(env.PETSEM_HOST).toBe("::");
    expect(docker.petsem.lines.some((l) => l === `EXPOSE ${env.PETSEM_PORT}`)).toBe(true);
  });

  it("tkdb: fly.toml's internal port is the LiteFS proxy, whose target is the port tkdb is told to listen on", () => {
    const env = flyEnv("tkdb");
    const [svc] = services("tkdb");
    expect(svc?.internal_port).toBe(portOf(get(litefs, "proxy", "addr")));
    expect(portOf(get(litefs, "proxy", "target"))).toBe(Number(env.TKDB_PORT));
    expect(get(litefs, "proxy", "target")).toMatch(/^localhost:/);
    expect(env.TKDB_HOST).toBe("::");
    const checks = fly.tkdb.checks;
    expect(isTable(checks) && isTable(checks.tkdb) ? checks.tkdb.port : undefined).toBe(
      Number(env.TKDB_PORT),
    );
    expect(docker.tkdb.lines.some((l) => l === `EXPOSE ${svc?.internal_port}`)).toBe(true);
  });

  it.each(APPS)(
    "%s: fly.toml exposes only its RPC port, never LiteFS's replication port, and has no public http_service",
    (app) => {
      expect(fly[app].http_service).toBeUndefined();
      const ports = services(app).flatMap((s) => (Array.isArray(s.ports) ? s.ports.filter(isTable) : []));
      expect(ports.map((p) => p.port)).toEqual(services(app).map((s) => s.internal_port));
      for (const p of ports) {
        expect([80, 443, 20202]).not.toContain(p.port);
        expect(Array.isArray(p.handlers) ? p.handlers : []).not.toContain("tls");
      }
      expect(services(app).every((s) => Array.isArray(s.tcp_checks) && s.tcp_checks.length > 0)).toBe(true);
    },
  );

  it("tkdb and petsem are isolated Fly apps with their own names and volumes", () => {
    expect(fly.tkdb.app).not.toBe(fly.petsem.app);
    const mount = (app: App): Table => {
      const m = fly[app].mounts;
      if (!isTable(m)) throw new Error(`${app}: no [mounts]`);
      return m;
    };
    expect(mount("tkdb").source).not.toBe(mount("petsem").source);
    expect(fly.tkdb.primary_region).toBe("iad");
  });

  it("LiteFS's FUSE dir is TKDB_LITEFS_DIR and TKDB_DATA_DIR, in fly.toml and the Dockerfile", () => {
    const fuse = get(litefs, "fuse", "dir");
    const env = flyEnv("tkdb");
    expect(env.TKDB_LITEFS_DIR).toBe(fuse);
    expect(env.TKDB_DATA_DIR).toBe(fuse);
    expect(docker.tkdb.env.get("TKDB_LITEFS_DIR")).toBe(fuse);
    expect(docker.tkdb.env.get("TKDB_DATA_DIR")).toBe(fuse);
  });

  it("LiteFS's data dir is the Fly volume, and differs from the FUSE dir", () => {
    const mounts = fly.tkdb.mounts;
    expect(isTable(mounts) ? mounts.destination : undefined).toBe(get(litefs, "data", "dir"));
    expect(get(litefs, "data", "dir")).not.toBe(get(litefs, "fuse", "dir"));
  });

  it("LiteFS leases through Consul and only machines in the primary region are candidates", () => {
    expect(get(litefs, "lease", "type")).toBe("consul");
    expect(get(litefs, "lease", "candidate")).toBe(envRef("FLY_REGION == PRIMARY_REGION"));
    expect(get(litefs, "lease", "consul", "url")).toBe(envRef("FLY_CONSUL_URL"));
    expect(get(litefs, "lease", "advertise-url")).toMatch(/:20202$/);
    expect(portOf(get(litefs, "http", "addr"))).toBe(20202);
  });

  it("LiteFS's proxy tracks the database file tkdb opens", () => {
    const db = get(litefs, "proxy", "db");
    expect(envSource("tkdb")).toContain(`"${db}"`);
  });

  it("LiteFS's proxy lets replicas answer only read-only verification ops; every op tkdb runs as a write goes to the primary", () => {
    const passthrough = (litefs as { proxy: { passthrough: Yaml } }).proxy.passthrough;
    if (!Array.isArray(passthrough)) throw new Error("proxy.passthrough is not a list");
    expect(passthrough.length).toBeGreaterThan(0);
    const server = read("apps", "tkdb", "src", "server.ts");
    const sessionOp = /export const SESSION_OP = "([a-z_]+)"/.exec(
      read("packages", "noise", "src", "session.ts"),
    )?.[1];
    expect(sessionOp).toBeDefined();
    // Ops that write to the database: the mutations (discharge writes nothing there: its audit
    // events go to the node's own log file, outside the LiteFS mount).
    const writes = [...server.matchAll(/mutating\(deps, "([a-z_]+)"/g)].map((m) => m[1]);
    expect([...writes].sort()).toEqual(["mint", "org_create", "revoke", "strip"]);
    for (const path of passthrough) {
      const m = typeof path === "string" ? /^\/noise\/v1\/verify\/([a-z_]+)$/.exec(path) : null;
      expect(m, `passthrough entry ${String(path)}`).not.toBeNull();
      const op = m?.[1] ?? "";
      // the session handshake of @tkdb/noise (the verify calls travel in it), not an op
      if (op === sessionOp) continue;
      expect(server, `${op} is not an op of tkdb`).toMatch(new RegExp(`\\b${op}: `));
      expect(writes, `${op} writes, so it must be replayed to the primary`).not.toContain(op);
    }
  });

  it("LiteFS runs `tkdb serve` with tsx from the installed workspace, as the unprivileged user (through with-audit-shipper)", () => {
    const cmd = get(litefs, "exec", 0, "cmd");
    expect(cmd).toBe(
      "/usr/local/bin/with-audit-shipper tkdb TKDB_AUDIT_DIR tkdb-audit /app/node_modules/.bin/tsx /app/apps/tkdb/src/cli.ts serve",
    );
    // the wrapper's last act: the command as the user it was given
    expect(shipper.trim().split("\n").at(-1)).toMatch(
      /^exec env( -u OPENSEARCH_[A-Z]+)+ gosu "\$user" "\$@"$/,
    );
    expect(existsSync(join(ROOT, "apps", "tkdb", "src", "cli.ts"))).toBe(true);
    expect(read("apps", "tkdb", "src", "cli.ts")).toMatch(/["']serve["']/);
    expect(docker.tkdb.lines).toContain('ENTRYPOINT ["litefs", "mount"]');
    expect(docker.tkdb.lines.some((l) => /useradd\b.*\btkdb$/.test(l))).toBe(true);
  });

  it("petsem's entrypoint restores an empty volume with `petsem backup restore`, then runs `petsem serve` as the unprivileged user", () => {
    expect(entrypoint).toContain('PETSEM="/app/node_modules/.bin/tsx /app/apps/petsem/src/cli.ts"');
    // src/cli.ts and the commands it runs (src/cli/<command>.ts, one file per command)
    const cliDir = join(ROOT, "apps", "petsem", "src", "cli");
    const cli = [
      read("apps", "petsem", "src", "cli.ts"),
      ...readdirSync(cliDir).map((f) => readFileSync(join(cliDir, f), "utf8")),
    ].join("\n");
    expect(cli).toMatch(/["']serve["']/);
    expect(cli).toMatch(/["']backup["']/);
    expect(cli).toMatch(/["']restore["']/);
    expect(cli).toMatch(/["']--output[ "']/);
    expect(entrypoint).toContain('gosu petsem $PETSEM backup restore --output "$DB"');
    const execs = entrypoint.split("\n").filter((l) => /^\s*exec\s/.test(l));
    expect(execs).toEqual([
      "exec /usr/local/bin/with-audit-shipper petsem PETSEM_AUDIT_DIR petsem-audit $PETSEM serve",
    ]);
    expect(entrypoint).toContain('DB="$DATA_DIR/petsem.db"');
    expect(docker.petsem.lines).toContain('ENTRYPOINT ["/usr/local/bin/petsem-entrypoint"]');
    expect(docker.petsem.lines.some((l) => /useradd\b.*\bpetsem$/.test(l))).toBe(true);
  });

  it("Litestream replicates the file petsem opens: PETSEM_DATA_DIR/petsem.db, the Fly volume", () => {
    const path = get(litestream, "dbs", 0, "path");
    const dataDir = flyEnv("petsem").PETSEM_DATA_DIR;
    expect(path).toBe(`${dataDir}/petsem.db`);
    expect(docker.petsem.env.get("PETSEM_DATA_DIR")).toBe(dataDir);
    const mounts = fly.petsem.mounts;
    expect(isTable(mounts) ? mounts.destination : undefined).toBe(dataDir);
    expect(appSource("petsem")).toContain('"petsem.db"');
  });

  it("petsem backs up through its own Litestream setting: an s3:// replica, described by litestream.yml", () => {
    const env = flyEnv("petsem");
    expect(env.PETSEM_LITESTREAM_REPLICA).toMatch(/^s3:\/\/[a-z0-9.-]+\/\S+$/);
    expect(get(litestream, "dbs", 0, "replicas", 0, "url")).toBe(envRef("PETSEM_LITESTREAM_REPLICA"));
    expect(get(litestream, "dbs", 0, "replicas", 0, "sync-interval")).toBe(
      env.PETSEM_LITESTREAM_SYNC_INTERVAL,
    );
    expect(get(litestream, "dbs", 0, "replicas", 0, "retention")).toMatch(/^\d+h$/);
  });

  it("the 3P location petsem puts on reader tokens is tkdb's location", () => {
    expect(flyEnv("petsem").PETSEM_TKDB_LOCATION).toBe(flyEnv("tkdb").TKDB_LOCATION);
  });

  it.each(APPS)("%s: the Dockerfile's pnpm version is package.json's packageManager", (app) => {
    const pinned = /^pnpm@(\d+\.\d+\.\d+)/.exec(rootPackage.packageManager)?.[1];
    expect(pinned).toBeDefined();
    expect(docker[app].args.get("PNPM_VERSION")).toBe(pinned);
    const install = docker[app].lines.find((l) => /\bpnpm@\S+ install\b/.test(l));
    expect(install).toContain(`pnpm@${envRef("PNPM_VERSION")} install --frozen-lockfile`);
    expect(install).toContain(`--filter "${app}..."`);
  });

  it.each(APPS)(
    "%s: the Dockerfile uses Node 20 slim (bookworm) at a version package.json's engines allow",
    (app) => {
      const v = docker[app].args.get("NODE_VERSION") ?? "";
      const [major, minor] = v.split(".").map(Number);
      expect(major).toBe(20);
      expect(minor ?? 0).toBeGreaterThanOrEqual(19);
      expect(rootPackage.engines.node).toContain(">=20.19");
      const froms = docker[app].lines.filter((l) => l.startsWith("FROM node:"));
      expect(froms.length).toBe(2);
      for (const f of froms) expect(f).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim\b/);
    },
  );

  it.each(APPS)("%s: every file the Dockerfile copies from infra/ exists", (app) => {
    const sources = docker[app].lines
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1))
      .filter((s) => !s.startsWith("--") && s !== ".");
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
  });
});

describe("metrics: Fly scrapes each service's own listener", () => {
  it.each(APPS)(
    "%s: fly.toml's [metrics] scrapes GET /metrics on the port the service listens on, on every interface",
    (app) => {
      const metrics = fly[app].metrics;
      if (!isTable(metrics)) throw new Error(`${app}/fly.toml has no [metrics]`);
      expect(metrics.path).toBe("/metrics");
      const env = flyEnv(app);
      expect(env[`${PREFIX[app]}METRICS_PORT`]).toBe(String(metrics.port));
      expect(env[`${PREFIX[app]}METRICS_HOST`]).toBe("::");
      expect(envModuleReads(app, `${PREFIX[app]}METRICS_PORT`)).toBe(true);
      expect(envModuleReads(app, `${PREFIX[app]}METRICS_HOST`)).toBe(true);
      // the scrape port is not a public service port
      const ports = services(app).flatMap((s) => (Array.isArray(s.ports) ? s.ports.filter(isTable) : []));
      expect(ports.map((p) => p.port)).not.toContain(metrics.port);
      expect(services(app).map((s) => s.internal_port)).not.toContain(metrics.port);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// The dashboard (infra/dashboards/tkdb-petsem.json) against the registries the services build:
// every series a panel queries is one that @tkdb/service registers for tkdb and petsem (with the
// hooks both apps register) or that registerVerifierMetrics registers for a verification client.

describe("dashboard: infra/dashboards/tkdb-petsem.json queries series the services expose", () => {
  interface Panel {
    id?: number;
    title?: unknown;
    datasource?: { type?: unknown; uid?: unknown };
    targets?: { expr?: unknown }[];
  }
  const dashboard = JSON.parse(read("infra", "dashboards", "tkdb-petsem.json")) as {
    panels: Panel[];
    templating?: { list?: { name?: string; type?: string; query?: string }[] };
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => String(t.expr ?? "")));

  /** The series names in a scrape of the real registries, after one RPC, refusal and gauge read. */
  async function exposedSeries(): Promise<Set<string>> {
    const texts: string[] = [];
    for (const service of ["tkdb", "petsem"]) {
      const m = createServiceMetrics({ service, ops: ["verify", "resolve"] });
      m.hooks.dbSizeBytes(() => 1);
      m.hooks.auditLagSeconds(() => 1);
      m.hooks.litestreamLagSeconds(() => undefined);
      m.observeRpc("verify", "ok", 0.001);
      m.rejected("replay");
      texts.push(await m.text());
    }
    const client = createServiceMetrics({ service: "apiserver", ops: [], processMetrics: false });
    const unreachable = async (): Promise<never> => {
      throw new Error("not called: the verifier is never started here");
    };
    registerVerifierMetrics(
      client,
      new CachingVerifier({ authority: { verify: unreachable, revocations: unreachable } }),
    );
    texts.push(await client.text());
    const names = new Set<string>();
    for (const line of texts.join("\n").split("\n")) {
      const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
      if (name !== undefined) names.add(name);
    }
    return names;
  }

  it("parses, has panels, and every panel has a title, a Prometheus datasource from the template and a query", () => {
    expect(dashboard.panels.length).toBeGreaterThan(0);
    const dsVar = dashboard.templating?.list?.find((v) => v.type === "datasource");
    expect(dsVar?.query).toBe("prometheus");
    for (const p of dashboard.panels) {
      expect(typeof p.title === "string" && p.title.length > 0, `panel ${p.id} title`).toBe(true);
      expect(p.datasource?.type, `panel ${p.id} datasource`).toBe("prometheus");
      expect(p.datasource?.uid, `panel ${p.id} datasource`).toBe(`\${${dsVar?.name}}`);
      expect((p.targets ?? []).length, `panel ${p.id} targets`).toBeGreaterThan(0);
    }
  });

  it("every metric a panel queries is registered by the real registries (tkdb, petsem, verification client)", async () => {
    const exposed = await exposedSeries();
    const used = new Set(
      exprs.flatMap((e) => [...e.matchAll(/\b(?:tkdb|petsem)_[a-z0-9_]+/g)].map((m) => m[0])),
    );
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(exposed.has(name), `${name} is queried but never exposed`).toBe(true);
    // the series issue 14 item 4 names, each on the dashboard
    for (const name of [
      "tkdb_client_cache_events_total",
      "tkdb_client_feed_lag_seconds",
      ...["tkdb", "petsem"].flatMap((s) =>
        [
          "rpc_requests_total",
          "rpc_duration_seconds_bucket",
          "rpc_rejected_total",
          "db_size_bytes",
          "audit_lag_seconds",
          "litestream_lag_seconds",
        ].map((n) => `${s}_${n}`),
      ),
    ])
      expect(used.has(name), `${name} has no panel`).toBe(true);
  });

  it("panels group only by the bounded labels the services use (plus Fly's instance), never an org, app id, user or nonce", () => {
    const grouped = exprs.flatMap((e) =>
      [...e.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => (m[1] ?? "").split(",").map((l) => l.trim())),
    );
    expect(grouped.length).toBeGreaterThan(0);
    for (const l of grouped) expect(["op", "outcome", "reason", "event", "le", "instance"]).toContain(l);
    const cacheEvents = exprs.find((e) => e.includes("tkdb_client_cache_events_total"));
    expect(cacheEvents).toMatch(/by \(event\)/);
  });
});

// ---------------------------------------------------------------------------------------------
// The audit log on Fly (issue 14): a directory on the volume, outside the LiteFS mount, created
// for the service user with mode 700 before the service starts, and Vector beside the service
// reading it. Neither Vector nor LiteFS (nor Docker) runs here: the files are checked statically.

/** The `with-audit-shipper USER VARIABLE PREFIX COMMAND…` line that starts each service. */
function shipperCall(app: App): { user: string; variable: string; prefix: string; command: string } {
  const line =
    app === "tkdb"
      ? get(litefs, "exec", 0, "cmd")
      : (entrypoint.split("\n").find((l) => /^\s*exec\s/.test(l)) ?? "").replace(/^\s*exec\s+/, "");
  const m = /^\/usr\/local\/bin\/with-audit-shipper (\S+) (\S+) (\S+) (.+)$/.exec(line);
  if (!m) throw new Error(`${app}: the service is not started through with-audit-shipper: ${line}`);
  return { user: m[1] as string, variable: m[2] as string, prefix: m[3] as string, command: m[4] as string };
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir.replace(/\/$/, "")}/`);

describe("the audit log directory on Fly, and Vector beside each service", () => {
  it.each(APPS)(
    "%s: the audit directory the service is told (fly.toml) is absolute, on the volume, and (tkdb) outside the LiteFS mount",
    (app) => {
      const call = shipperCall(app);
      expect(call.variable).toBe(`${PREFIX[app]}AUDIT_DIR`);
      expect(envModuleReads(app, call.variable)).toBe(true);
      const dir = flyEnv(app)[call.variable];
      expect(dir, `${app}/fly.toml [env] ${call.variable}`).toMatch(/^\/[^\s]+$/);
      const mounts = fly[app].mounts;
      const volume = isTable(mounts) ? String(mounts.destination) : "";
      expect(under(dir as string, volume), `${dir} is on the volume ${volume}`).toBe(true);
      if (app === "tkdb") {
        const fuse = get(litefs, "fuse", "dir");
        expect(under(dir as string, fuse)).toBe(false);
        expect(under(dir as string, flyEnv("tkdb").TKDB_DATA_DIR as string)).toBe(false);
      }
    },
  );

  it.each(APPS)(
    "%s: the wrapper runs as the image's service user, with the app's index prefix, and the image installs it, Vector and its config",
    (app) => {
      const call = shipperCall(app);
      expect(call.user).toBe(app);
      expect(docker[app].lines.some((l) => new RegExp(`useradd\\b.*\\b${app}$`).test(l))).toBe(true);
      expect(call.prefix).toBe(`${app}-audit`);
      const lines = docker[app].lines;
      expect(lines).toContain(
        "COPY --chmod=0755 infra/audit/with-shipper.sh /usr/local/bin/with-audit-shipper",
      );
      expect(lines).toContain("COPY infra/audit/vector.yaml /etc/vector/vector.yaml");
      expect(
        lines.some((l) =>
          /^COPY --from=timberio\/vector:\d+\.\d+\.\d+-debian \/usr\/bin\/vector \/usr\/local\/bin\/vector$/.test(
            l,
          ),
        ),
      ).toBe(true);
      // the Vector image and the runtime image are both Debian (glibc)
      expect(lines.some((l) => /^FROM node:\$\{NODE_VERSION\}-bookworm-slim$/.test(l))).toBe(true);
    },
  );

  it("the wrapper creates the directory (owner the service user, mode 700) and Vector's state directory inside it before it starts Vector or the service", () => {
    const lines = shipper.split("\n").map((l) => l.trim());
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const makeDir = at(/^install -d -m 0700 -o "\$user" -g "\$user" "\$dir"$/);
    const makeState = at(/^install -d -m 0700 -o "\$user" -g "\$user" "\$dir\/\.vector"$/);
    const chown = at(/^chown -R "\$user:\$user" "\$dir"$/);
    const vectorStart = at(/^gosu "\$user" vector --config \/etc\/vector\/vector\.yaml/);
    const serviceStart = at(/^exec env .* gosu "\$user" "\$@"$/);
    for (const [name, i] of Object.entries({ makeDir, makeState, chown, vectorStart, serviceStart }))
      expect(i, name).toBeGreaterThanOrEqual(0);
    expect(makeDir).toBeLessThan(vectorStart);
    expect(makeState).toBeLessThan(vectorStart);
    expect(chown).toBeLessThan(serviceStart);
    expect(vectorStart).toBeLessThan(serviceStart);
    // the directory is the service's own variable, and Vector is told the same path
    expect(shipper).toContain('dir="$(printenv "$dir_variable" || true)"');
    expect(shipper).toContain('export AUDIT_DIR="$dir" AUDIT_INDEX_PREFIX="$index_prefix"');
    expect(lines.filter((l) => l.startsWith("exec "))).toHaveLength(1);
    // the service never gets the shipper's credentials
    for (const v of ["OPENSEARCH_URL", "OPENSEARCH_USER", "OPENSEARCH_PASSWORD"])
      expect(lines[serviceStart]).toContain(`-u ${v}`);
    expect(shipper.startsWith("#!/bin/sh\n")).toBe(true);
    expect(statSync(join(INFRA, "audit", "with-shipper.sh")).mode & 0o111).not.toBe(0);
  });

  it("the shell scripts parse (sh -n)", async () => {
    const { spawnSync } = await import("node:child_process");
    for (const f of ["audit/with-shipper.sh", "petsem/entrypoint.sh"]) {
      const r = spawnSync("sh", ["-n", join(INFRA, f)], { encoding: "utf8" });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
  });

  it("Vector reads exactly the directory the wrapper prepares: its files, its cli/ log, and its state directory inside it", () => {
    const ref = envRef("AUDIT_DIR");
    const sources = (vector as { sources: Record<string, { include: string[] }> }).sources;
    const globs = Object.values(sources).flatMap((src) => src.include);
    expect(globs.length).toBeGreaterThan(0);
    for (const g of globs) expect(g.startsWith(`${ref}/`), g).toBe(true);
    expect(globs).toEqual(
      expect.arrayContaining([
        `${ref}/audit-*.jsonl`,
        `${ref}/cli/audit-*.jsonl`,
        `${ref}/checkpoints.jsonl`,
      ]),
    );
    expect(get(vector, "data_dir")).toBe(`${ref}/.vector`);
    // the index prefix the wrapper exports is the one the sink writes
    expect(get(vector, "sinks", "opensearch", "bulk", "index")).toMatch(/^\$\{AUDIT_INDEX_PREFIX\}-/);
    // the credentials are environment references (fly secrets), never values
    expect(get(vector, "sinks", "opensearch", "auth", "password")).toBe(envRef("OPENSEARCH_PASSWORD"));
    expect(keysMd).toMatch(/fly secrets set -a tkdb-prod [^\n]*OPENSEARCH_PASSWORD=/);
    expect(keysMd).toMatch(/fly secrets set -a petsem-prod [^\n]*OPENSEARCH_PASSWORD=/);
  });
});
