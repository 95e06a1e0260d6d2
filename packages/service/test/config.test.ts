import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  bool,
  type ConfigFs,
  defineConfig,
  duration,
  host,
  int,
  key32,
  key32List,
  list,
  locationKeys,
  oneOf,
  parseConfig,
  port,
  string,
  url,
} from "../src/config.js";
import { loadDevEnv, parseEnvFile } from "../src/config-envfile.js";
import { describeConfig, envMarkdownTable, formatEnvHelp } from "../src/config-help.js";
import { parseKey32, urlParser } from "../src/config-kinds.js";
import { ConfigError } from "../src/errors.js";

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const HEX = Buffer.from(KEY).toString("hex");
const B64 = Buffer.from(KEY).toString("base64");
const B64URL = Buffer.from(KEY).toString("base64url");
const dir = mkdtempSync(join(tmpdir(), "service-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

const spec = defineConfig({
  host: host("T_HOST", { default: "127.0.0.1", doc: "listen address" }),
  port: port("T_PORT", { default: 7401, doc: "listen port (0: any free port)", aliases: ["T_OLD_PORT"] }),
  kek: key32("T_KEK", { required: true, doc: "key-encryption key" }),
  noise: key32("T_NOISE_KEY", { doc: "Noise static key" }),
  ttl: duration("T_TTL", { default: 60_000, min: 1000, max: 300_000, doc: "discharge lifetime" }),
  poll: duration("T_POLL_MS", { default: 5000, bareUnit: "ms", min: 100, max: 60_000, doc: "poll interval" }),
  workers: int("T_WORKERS", { default: 4, min: 1, max: 64, doc: "worker count" }),
  location: url("T_LOCATION", { default: "https://api.fly.io/v1", doc: "token location" }),
  backend: oneOf("T_BACKEND", { values: ["native", "noble"], default: "native", doc: "crypto backend" }),
  urls: list("T_URLS", { item: urlParser(), itemKind: "URL", max: 4, doc: "endpoints, nearest first" }),
  tp: locationKeys("T_TP_KEYS", { doc: "third-party keys" }),
  debug: bool("T_DEBUG", { default: false, doc: "debug logging" }),
  name: string("T_NAME", { pattern: /^[a-z]+$/, patternText: "lower-case letters", doc: "node name" }),
});

describe("typed config from an env object", () => {
  it("applies defaults and types every value", () => {
    const { values, warnings } = parseConfig(spec, { T_KEK: HEX });
    expect(values).toMatchObject({
      host: "127.0.0.1",
      port: 7401,
      ttl: 60_000,
      poll: 5000,
      workers: 4,
      location: "https://api.fly.io/v1",
      backend: "native",
      debug: false,
    });
    expect(values.kek).toEqual(KEY);
    expect(values.noise).toBeUndefined();
    expect(values.urls).toBeUndefined();
    expect(warnings).toEqual([]);
    // Compile-time: required and defaulted values are not optional.
    const p: number = values.port;
    const k: Uint8Array = values.kek;
    const n: Uint8Array | undefined = values.noise;
    expect([p, k, n]).toBeDefined();
  });

  it("an empty value counts as unset", () => {
    expect(parseConfig(spec, { T_KEK: HEX, T_PORT: "", T_NOISE_KEY: "  " }).values.port).toBe(7401);
  });

  it("reports every problem at once, each naming its variable, and points to --help", () => {
    const e = configError(() => parseConfig(spec, { T_PORT: "70000", T_TTL: "10m", T_BACKEND: "rust" }));
    expect(e.problems.map((p) => p.variable)).toEqual(["T_PORT", "T_KEK", "T_TTL", "T_BACKEND"]);
    expect(e.problems[1]?.problem).toBe("is required (set T_KEK or T_KEK_FILE)");
    expect(e.hint).toContain("--help");
  });

  it("errors never contain the value, whatever it is (fuzzed)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 6, maxLength: 80 }), (v) => {
        fc.pre(v.trim().length >= 6 && !/^\d+$/.test(v.trim()));
        for (const name of ["T_KEK", "T_PORT", "T_TTL", "T_WORKERS", "T_LOCATION", "T_TP_KEYS", "T_NAME"]) {
          const env = { T_KEK: HEX, [name]: v };
          try {
            parseConfig(spec, env);
          } catch (e) {
            expect(e).toBeInstanceOf(ConfigError);
            expect((e as Error).message).not.toContain(v.trim());
          }
        }
      }),
      { numRuns: 200, seed: 1301 },
    );
  });

  it("ports: 0..65535 digits only", () => {
    for (const ok of ["0", "80", "65535"])
      expect(parseConfig(spec, { T_KEK: HEX, T_PORT: ok }).values.port).toBe(Number(ok));
    for (const bad of ["-1", "65536", "80a", "0x50", "1e3"])
      expect(configError(() => parseConfig(spec, { T_KEK: HEX, T_PORT: bad })).problems[0]?.variable).toBe(
        "T_PORT",
      );
  });

  it("hosts: IPv4, IPv6 without brackets, DNS names", () => {
    for (const ok of ["127.0.0.1", "::1", "fd00::1", "tkdb.internal", "localhost"])
      expect(parseConfig(spec, { T_KEK: HEX, T_HOST: ok }).values.host).toBe(ok);
    for (const bad of ["[::1]", "256.1.1.1", "http://x", "a b", "-x.com"])
      expect(() => parseConfig(spec, { T_KEK: HEX, T_HOST: bad })).toThrow(ConfigError);
  });

  it('durations: "90" (bare unit), "90s", "500ms", "5m", "1h", "1m30s", within min/max', () => {
    const ttl = (v: string) => parseConfig(spec, { T_KEK: HEX, T_TTL: v }).values.ttl;
    expect(ttl("90")).toBe(90_000);
    expect(ttl("90s")).toBe(90_000);
    expect(ttl("5m")).toBe(300_000);
    expect(ttl("1m30s")).toBe(90_000);
    expect(ttl("1500ms")).toBe(1500);
    expect(parseConfig(spec, { T_KEK: HEX, T_POLL_MS: "250" }).values.poll).toBe(250);
    for (const bad of ["0s", "999ms", "5m1s", "1h", "-5s", "5 m", "5d", "s"]) {
      const e = configError(() => ttl(bad));
      expect(e.problems[0]?.problem).toMatch(/duration .*between 1s and 5m/);
    }
  });

  it("ints with range, enums, bools, strings with a pattern", () => {
    expect(parseConfig(spec, { T_KEK: HEX, T_WORKERS: "64" }).values.workers).toBe(64);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_WORKERS: "65" })).toThrow(/1\.\.64/);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_WORKERS: "4.5" })).toThrow(ConfigError);
    expect(parseConfig(spec, { T_KEK: HEX, T_BACKEND: "noble" }).values.backend).toBe("noble");
    expect(parseConfig(spec, { T_KEK: HEX, T_DEBUG: "yes" }).values.debug).toBe(true);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_DEBUG: "maybe" })).toThrow(/true or false/);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_NAME: "Abc" })).toThrow(/lower-case letters/);
  });

  it("URLs: kept exactly as written; scheme checked; user info refused", () => {
    const loc = "https://api.fly.io/v1";
    expect(parseConfig(spec, { T_KEK: HEX, T_LOCATION: loc }).values.location).toBe(loc);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_LOCATION: "ftp://x" })).toThrow(/http or https/);
    const e = configError(() => parseConfig(spec, { T_KEK: HEX, T_LOCATION: "https://u:hunter2@x.example" }));
    expect(e.message).toContain("user name or password");
    expect(e.message).not.toContain("hunter2");
  });

  it("lists: items parsed and numbered in errors, bounded", () => {
    expect(parseConfig(spec, { T_KEK: HEX, T_URLS: "http://a:1, https://b" }).values.urls).toEqual([
      "http://a:1",
      "https://b",
    ]);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_URLS: "http://a,,http://b" })).toThrow(/item 1 is empty/);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_URLS: "http://a,nope" })).toThrow(/item 1 must be/);
    expect(() =>
      parseConfig(spec, { T_KEK: HEX, T_URLS: "http://a,http://b,http://c,http://d,http://e" }),
    ).toThrow(/0\.\.4 items/);
  });

  it("location=key maps: any key encoding, padding-safe split, duplicates refused", () => {
    const tp = parseConfig(spec, {
      T_KEK: HEX,
      T_TP_KEYS: `https://api.fly.io/aaa/v1=${B64}, https://x.example/q?a=b=${HEX}`,
    }).values.tp;
    expect([...(tp?.keys() ?? [])]).toEqual(["https://api.fly.io/aaa/v1", "https://x.example/q?a=b"]);
    expect(tp?.get("https://api.fly.io/aaa/v1")).toEqual(KEY);
    expect(() =>
      parseConfig(spec, { T_KEK: HEX, T_TP_KEYS: `https://a=${HEX},https://a=${B64URL}` }),
    ).toThrow(/twice/);
    expect(() => parseConfig(spec, { T_KEK: HEX, T_TP_KEYS: "https://a" })).toThrow(/location=key/);
  });

  it("a required key is reported missing even when a variable with a longer name failed first", () => {
    const s2 = defineConfig({
      next: key32("T_KEK_NEXT", { doc: "next KEK" }),
      kek: key32("T_KEK", { required: true, doc: "KEK" }),
    });
    const e = configError(() => parseConfig(s2, { T_KEK_NEXT: HEX, T_KEK_NEXT_FILE: "/x" }));
    expect(e.problems.map((p) => p.variable)).toEqual(["T_KEK_NEXT", "T_KEK"]);
  });

  it("unknown variables with the app's prefix are warned about, with a suggestion", () => {
    const { warnings } = parseConfig(spec, { T_KEK: HEX, T_PROT: "1", OTHER: "x" }, { prefixes: ["T_"] });
    expect(warnings).toEqual(["T_PROT is not a variable this program reads (did you mean T_PORT?)"]);
  });
});

describe("32-byte keys: one set of encodings everywhere", () => {
  it("accepts hex, base64 and base64url, padded or not, with surrounding whitespace", () => {
    for (const text of [
      HEX,
      HEX.toUpperCase(),
      B64,
      B64.replace(/=$/, ""),
      B64URL,
      `${B64URL}=`,
      `  ${HEX}\n`,
    ])
      expect(parseKey32(text), text).toEqual(KEY);
  });

  it("refuses wrong lengths, mixed alphabets, non-canonical encodings and the all-zero key", () => {
    const nonCanonical = `${B64URL.slice(0, 42)}${String.fromCharCode(B64URL.charCodeAt(42) + 1)}`;
    for (const bad of [HEX.slice(2), `${HEX}00`, `+-${B64URL.slice(2)}`, nonCanonical, "0".repeat(64), ""])
      expect(() => parseKey32(bad), bad).toThrow();
  });

  it("any 32 random bytes round-trip through every encoding (fuzzed)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (k) => {
        fc.pre(k.some((b) => b !== 0));
        const b = Buffer.from(k);
        for (const t of [b.toString("hex"), b.toString("base64"), b.toString("base64url")])
          expect(parseKey32(t)).toEqual(k);
      }),
      { numRuns: 200, seed: 1302 },
    );
  });

  it("VAR_FILE: read and trimmed; VAR and VAR_FILE both set is an error", () => {
    const f = join(dir, "kek");
    writeFileSync(f, `${B64URL}\n`, { mode: 0o600 });
    expect(parseConfig(spec, { T_KEK_FILE: f }).values.kek).toEqual(KEY);
    const e = configError(() => parseConfig(spec, { T_KEK: HEX, T_KEK_FILE: f }));
    expect(e.problems).toEqual([{ variable: "T_KEK", problem: "set only one of T_KEK and T_KEK_FILE" }]);
  });

  it("VAR_FILE: a missing file names the variable and path; bad content never quotes it", () => {
    const missing = join(dir, "nope");
    expect(configError(() => parseConfig(spec, { T_KEK_FILE: missing })).problems[0]).toEqual({
      variable: "T_KEK_FILE",
      problem: `the file ${missing} cannot be read (ENOENT)`,
    });
    const f = join(dir, "bad");
    writeFileSync(f, "not-a-key-but-a-secret-password", { mode: 0o600 });
    const e = configError(() => parseConfig(spec, { T_KEK_FILE: f }));
    expect(e.problems[0]?.variable).toBe("T_KEK_FILE");
    expect(e.message).not.toContain("secret-password");
  });

  it("a key file others can read is warned about (or refused when the variable says so)", () => {
    const f = join(dir, "loose");
    writeFileSync(f, HEX);
    chmodSync(f, 0o644);
    const { warnings } = parseConfig(spec, { T_KEK_FILE: f });
    expect(warnings).toEqual([
      `T_KEK_FILE: the file ${f} can be read by group or others (mode 0644); run chmod 600 on it`,
    ]);
    const strict = defineConfig({
      k: key32("S_KEY", { required: true, doc: "k", filePermissions: "refuse" }),
    });
    expect(() => parseConfig(strict, { S_KEY_FILE: f })).toThrow(/chmod 600/);
  });

  it("a huge file is refused without reading it all into the config", () => {
    const fs: ConfigFs = {
      readFile: (_p, max) => {
        expect(max).toBe(65536);
        throw Object.assign(new Error("big"), { code: "EFBIG" });
      },
      mode: () => 0o600,
    };
    expect(() => parseConfig(spec, { T_KEK_FILE: "/x" }, { fs })).toThrow(/EFBIG/);
  });
});

describe("renamed variables keep their old name", () => {
  it("the old name is accepted, with a warning to rename it", () => {
    const { values, warnings } = parseConfig(spec, { T_KEK: HEX, T_OLD_PORT: "8000" });
    expect(values.port).toBe(8000);
    expect(warnings).toEqual(["T_OLD_PORT is an old name for T_PORT: rename it"]);
  });

  it("old and new set to different values is an error; the same value is fine", () => {
    expect(() => parseConfig(spec, { T_KEK: HEX, T_PORT: "1", T_OLD_PORT: "2" })).toThrow(
      /set only one of T_PORT/,
    );
    expect(parseConfig(spec, { T_KEK: HEX, T_PORT: "1", T_OLD_PORT: "1" }).values.port).toBe(1);
  });

  it("a spec that gives one name to two variables is refused when defined", () => {
    expect(() =>
      defineConfig({
        a: port("A_PORT", { doc: "a" }),
        b: port("B_PORT", { doc: "b", aliases: ["A_PORT"] }),
      }),
    ).toThrow(TypeError);
  });
});

describe("describe for --help and docs", () => {
  it("lists every variable with its kind, default or 'required', never a secret default", () => {
    const d = describeConfig(spec);
    expect(d.find((v) => v.name === "T_TTL")).toMatchObject({
      kind: "duration",
      default: "1m",
      required: false,
    });
    expect(d.find((v) => v.name === "T_KEK")).toMatchObject({ required: true, file: true, secret: true });
    const help = formatEnvHelp(spec);
    expect(help).toMatch(
      /T_PORT\s+listen port \(0: any free port\) \(port; default: 7401; old name: T_OLD_PORT\)/,
    );
    expect(help).toMatch(/T_KEK, T_KEK_FILE\s+key-encryption key \(key32; required\)/);
    expect(envMarkdownTable(spec)).toContain("| T_TTL | discharge lifetime | 1m |");
  });
});

describe("development env file", () => {
  const repo = join(dir, "repo");
  mkdirSync(join(repo, "data"), { recursive: true });
  mkdirSync(join(repo, "apps", "tkdb"), { recursive: true });
  writeFileSync(join(repo, "pnpm-workspace.yaml"), "packages: []\n");
  const envFile = join(repo, "data", "dev.env");
  writeFileSync(
    envFile,
    "# written by npm start\nexport T_URL=http://127.0.0.1:7401\nT_KEK_FILE='/keys/kek'\n\nT_PORT = \"7401\"\n",
    { mode: 0o600 },
  );
  chmodSync(envFile, 0o600);

  it("parses KEY=VALUE lines, comments, export and quotes", () => {
    expect(parseEnvFile("A=1\n# c\nexport B = 'x y'\nC=\"q\"\nD=\n")).toEqual({
      A: "1",
      B: "x y",
      C: "q",
      D: "",
    });
  });

  it("a malformed line names the file and line, not its text", () => {
    const e = configError(() => parseEnvFile("A=1\nthis is secret text\n", "dev.env"));
    expect(e.problems[0]?.variable).toBe("dev.env:2");
    expect(e.message).not.toContain("secret");
  });

  it("inside the repository: loaded, explicit variables win, and the file is named", () => {
    const r = loadDevEnv({ env: { T_PORT: "9999" }, cwd: join(repo, "apps", "tkdb") });
    expect(r.file).toBe(envFile);
    expect(r.env).toMatchObject({ T_PORT: "9999", T_URL: "http://127.0.0.1:7401", T_KEK_FILE: "/keys/kek" });
    expect(r.applied).toEqual(["T_URL", "T_KEK_FILE"]);
  });

  it("NODE_ENV=production or outside the repository: not loaded", () => {
    expect(loadDevEnv({ env: { NODE_ENV: "production" }, cwd: repo })).toMatchObject({
      file: null,
      skipped: "production",
    });
    expect(loadDevEnv({ env: {}, cwd: tmpdir() })).toMatchObject({ file: null });
  });

  it("DATA_DIR moves the file with npm start's data folder (relative to where the command runs)", () => {
    const data = join(repo, "elsewhere");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "dev.env"), "T_URL=http://127.0.0.1:9401\n", { mode: 0o600 });
    chmodSync(join(data, "dev.env"), 0o600);
    const abs = loadDevEnv({ env: { DATA_DIR: data }, cwd: join(repo, "apps", "tkdb") });
    expect(abs.file).toBe(join(data, "dev.env"));
    expect(abs.env.T_URL).toBe("http://127.0.0.1:9401");
    const rel = loadDevEnv({ env: { DATA_DIR: "elsewhere" }, cwd: repo });
    expect(rel.file).toBe(join(data, "dev.env"));
    // a DATA_DIR without a file: nothing loaded, the default file is not used instead
    expect(loadDevEnv({ env: { DATA_DIR: join(repo, "none") }, cwd: repo })).toMatchObject({
      file: null,
      skipped: "no-file",
    });
  });

  it("a file that group or others can write is refused, not used", () => {
    const other = join(dir, "repo2");
    mkdirSync(join(other, "data"), { recursive: true });
    writeFileSync(join(other, "pnpm-workspace.yaml"), "");
    writeFileSync(join(other, "data", "dev.env"), "T_URL=http://evil.example\n");
    chmodSync(join(other, "data", "dev.env"), 0o666);
    expect(() => loadDevEnv({ env: {}, cwd: other })).toThrow(/written by group or others/);
  });
});

describe("key32List: a list of keys from VAR or VAR_FILE", () => {
  const ks = defineConfig({ retired: key32List("T_RETIRED", { doc: "retired keys" }) });
  it("is empty when unset and reads every key32 encoding, comma, space or newline separated", () => {
    expect(parseConfig(ks, {}).values.retired).toEqual([]);
    const { values } = parseConfig(ks, { T_RETIRED: `${HEX}, ${B64}\n${B64URL}` });
    expect(values.retired).toEqual([KEY, KEY, KEY]);
    const file = join(dir, "retired.keys");
    writeFileSync(file, `${HEX}\n${B64}\n`, { mode: 0o600 });
    expect(parseConfig(ks, { T_RETIRED_FILE: file }).values.retired).toEqual([KEY, KEY]);
  });
  it("names a bad item by its index and never echoes it", () => {
    const bad = "zz".repeat(32);
    const e = configError(() => parseConfig(ks, { T_RETIRED: `${HEX},${bad}` }));
    expect(e.message).toContain("T_RETIRED");
    expect(e.message).toContain("item 1");
    expect(e.message).not.toContain(bad);
    expect(e.message).not.toContain(HEX);
  });
});
