/**
 * Rendered configs (Litestream 0.3 syntax, checked by the real binary), operator config files,
 * and the child's environment.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  childEnv,
  generations,
  isLitestreamError,
  LitestreamError,
  litestreamBinary,
  parseReplicaUrl,
  renderConfig,
  restore,
  snapshots,
} from "../src/index.js";
import { createDb, tempDir } from "./helpers.js";

const dir = tempDir("litestream-config-test-");
afterAll(() => dir.cleanup());

/** `litestream databases` on a config file: the database paths it lists. */
function databasesOf(yml: string, extra: string[] = []): Promise<string[]> {
  const file = join(dir.path, `c-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, yml);
  return new Promise((res, rej) => {
    const p = spawn(litestreamBinary(), ["databases", "-config", file, ...extra], { stdio: "pipe" });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.on("error", rej);
    p.on("close", (code) =>
      code === 0
        ? res(
            out
              .split("\n")
              .slice(1)
              .filter((l) => l.trim() !== "")
              .map((l) => l.replace(/\s+\S+\s*$/, "")),
          )
        : rej(new Error(`exit ${code}`)),
    );
  });
}

function expectInvalid(f: () => unknown, code = "invalid_request"): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(LitestreamError);
  expect((caught as LitestreamError).code).toBe(code);
}

describe("renderConfig", () => {
  it("writes Litestream 0.3 YAML: db path, file replica as type+path, s3 as url, durations, monitor interval", () => {
    const yml = renderConfig({
      dbPath: "/data/petsem.db",
      replicas: [
        { url: "file:///backups/petsem", syncInterval: "250ms", retention: "24h" },
        { url: "s3://bucket/petsem", name: "offsite", snapshotInterval: "6h" },
      ],
    });
    expect(yml).toBe(
      [
        "dbs:",
        '  - path: "/data/petsem.db"',
        "    monitor-interval: 250ms",
        "    replicas:",
        "      - type: file",
        '        path: "/backups/petsem"',
        "        sync-interval: 250ms",
        "        retention: 24h",
        '      - url: "s3://bucket/petsem"',
        "        name: offsite",
        "        sync-interval: 1s",
        "        snapshot-interval: 6h",
        "",
      ].join("\n"),
    );
    // Litestream notices new frames every monitor interval: never slower than 1 s by default.
    expect(renderConfig({ dbPath: "/d.db", replicas: [{ path: "/r", syncInterval: "1h" }] })).toContain(
      "monitor-interval: 1s",
    );
  });

  it("the real binary reads back exactly the paths given, even with spaces, quotes, #, unicode and $VARS (no env expansion)", async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${HOME} is the point
    const odd = join(dir.path, 'a b "q" #x é $HOME ${HOME}.db');
    const replicas = [{ path: join(dir.path, "r $HOME") }];
    expect(await databasesOf(renderConfig({ dbPath: odd, replicas }), ["-no-expand-env"])).toEqual([odd]);
    // The package runs rendered configs with -no-expand-env: Litestream finds the database by its
    // literal path (with expansion it would look for ".../a b \"q\" #x é /root /root.db").
    expect(await snapshots({ dbPath: odd, config: { replicas } })).toEqual([]);
  });

  it("refuses control characters, in-memory databases, bad durations, duplicate names and malformed replicas", () => {
    const ok = { path: "/r" };
    expectInvalid(() => renderConfig({ dbPath: "/a\nb.db", replicas: [ok] }));
    expectInvalid(() => renderConfig({ dbPath: "/a\u0000b.db", replicas: [ok] }));
    expectInvalid(() => renderConfig({ dbPath: ":memory:", replicas: [ok] }));
    expectInvalid(() => renderConfig({ dbPath: "", replicas: [ok] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r", syncInterval: "1 s" }] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r", syncInterval: "0s" }] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r", retention: "forever" }] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r" }, { path: "/s" }] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r", url: "file:///s" }] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{}] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r", name: "a b" }] }));
    expectInvalid(() => renderConfig({ dbPath: "/a.db", replicas: [ok], minCheckpointPageCount: -1 }));
    expect(() =>
      renderConfig({ dbPath: "/a.db", replicas: [{ path: "/r" }, { path: "/s", name: "second" }] }),
    ).not.toThrow();
  });

  it("replica URLs: file:///abs and s3://bucket/path only; credentials, queries and fragments are refused", () => {
    expect(parseReplicaUrl("file:///backups/x").protocol).toBe("file:");
    expect(parseReplicaUrl("s3://bucket/petsem").host).toBe("bucket");
    for (const bad of [
      "file://host/x",
      "file:///",
      "s3://",
      "s3://AKIA:secret@bucket/x",
      "s3://bucket/x?access-key-id=AKIA",
      "s3://bucket/x#frag",
      "sftp://user:pw@host/x",
      "https://bucket/x",
      "not a url",
    ]) {
      let err: unknown;
      try {
        parseReplicaUrl(bad);
      } catch (e) {
        err = e;
      }
      expect(isLitestreamError(err, "invalid_request"), bad).toBe(true);
      expect((err as Error).message).not.toContain("secret");
      expect((err as Error).message).not.toContain("AKIA");
    }
  });
});

describe("operator config files (tkdb's TKDB_LITESTREAM_CONFIG)", () => {
  it("a file that does not replicate the database is refused as `config` before Litestream touches anything", async () => {
    const db = join(dir.path, "op.db");
    createDb(db).close();
    const other = join(dir.path, "other.yml");
    writeFileSync(
      other,
      `dbs:\n  - path: ${join(dir.path, "elsewhere.db")}\n    replicas:\n      - path: /tmp/x\n`,
    );
    const err = await generations({ dbPath: db, config: { file: other } }).catch((e: unknown) => e);
    expect(isLitestreamError(err, "config")).toBe(true);
    const missing = await restore({
      dbPath: db,
      config: { file: join(dir.path, "missing.yml") },
      outPath: join(dir.path, "never.db"),
    }).catch((e: unknown) => e);
    expect(isLitestreamError(missing, "config")).toBe(true);
    const broken = join(dir.path, "broken.yml");
    writeFileSync(broken, `dbs:\n  - path: ${db}\n    replicas:\n      - type: nosuch\n`);
    const e3 = await generations({ dbPath: db, config: { file: broken } }).catch((e: unknown) => e);
    expect(isLitestreamError(e3, "config")).toBe(true);
    expect((e3 as Error).message).toMatch(/unknown replica type/);
  });
});

describe("the child's environment", () => {
  it("passes Litestream's, S3's, TLS and proxy variables and those named; never the service's keys", () => {
    const env = {
      LITESTREAM_ACCESS_KEY_ID: "id",
      LITESTREAM_SECRET_ACCESS_KEY: "s",
      AWS_REGION: "r",
      HOME: "/home/x",
      SSL_CERT_FILE: "/etc/ca.pem",
      HTTPS_PROXY: "http://proxy",
      PETSEM_LITESTREAM_REPLICA: "s3://b/p",
      PETSEM_KEK: "kek",
      TKDB_KEK: "kek",
      TKDB_NOISE_KEY: "nk",
      PATH: "/usr/bin",
      UNSET: undefined,
    };
    expect(childEnv(env, ["PETSEM_LITESTREAM_REPLICA"])).toEqual({
      LITESTREAM_ACCESS_KEY_ID: "id",
      LITESTREAM_SECRET_ACCESS_KEY: "s",
      AWS_REGION: "r",
      HOME: "/home/x",
      SSL_CERT_FILE: "/etc/ca.pem",
      HTTPS_PROXY: "http://proxy",
      PETSEM_LITESTREAM_REPLICA: "s3://b/p",
    });
    expect(childEnv()).toEqual({});
  });
});
