import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isServiceError } from "@tkdb/service";
import { describe, expect, it } from "vitest";
import { DEFAULT_PETSEM_LOCATION, DEFAULT_TKDB_LOCATION, loadConfig } from "../src/env.js";
import { tempDir } from "./helpers.js";

const KEK_HEX = "11".repeat(32);

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (e) {
    if (isServiceError(e, "config")) return e.message;
    throw e;
  }
  throw new Error("expected a config error");
}

describe("env: the only reader of process.env", () => {
  it("refuses to start without a KEK", () => {
    expect(configError({})).toMatch(/PETSEM_KEK/);
  });

  it("reads defaults and a hex KEK", () => {
    const c = loadConfig({ PETSEM_KEK: KEK_HEX });
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(7402);
    expect(c.kek).toEqual(new Uint8Array(32).fill(0x11));
    expect(c.location).toBe(DEFAULT_PETSEM_LOCATION);
    expect(c.location).toBe("https://api.fly.io/secrets/v1");
    expect(c.tkdbLocation).toBe(DEFAULT_TKDB_LOCATION);
    expect(c.backend).toBe("native");
    expect(c.noiseStaticKey).toBeNull();
  });

  it("reads keys from *_FILE and refuses both forms at once", () => {
    const dir = tempDir();
    const f = join(dir, "kek");
    writeFileSync(f, `${Buffer.alloc(32, 3).toString("base64url")}\n`);
    expect(loadConfig({ PETSEM_KEK_FILE: f }).kek).toEqual(new Uint8Array(32).fill(3));
    expect(configError({ PETSEM_KEK_FILE: f, PETSEM_KEK: KEK_HEX })).toMatch(/only one/);
    expect(configError({ PETSEM_KEK_FILE: join(dir, "missing") })).toMatch(
      /PETSEM_KEK_FILE: the file .* cannot be read/,
    );
  });

  it("bad values are named by variable, never echoed", () => {
    const secretish = "deadbeef".repeat(7);
    const msg = configError({ PETSEM_KEK: secretish });
    expect(msg).toMatch(/PETSEM_KEK: must be 32 bytes/);
    expect(msg).not.toContain(secretish);
    expect(configError({ PETSEM_KEK: KEK_HEX, PETSEM_PORT: "70000" })).toMatch(/PETSEM_PORT/);
    expect(configError({ PETSEM_KEK: KEK_HEX, PETSEM_CRYPTO_BACKEND: "rot13" })).toMatch(/BACKEND/);
    expect(configError({ PETSEM_KEK: KEK_HEX, PETSEM_TKDB_LOCATION: "ftp://x" })).toMatch(/TKDB_LOCATION/);
    expect(configError({ PETSEM_KEK: KEK_HEX, PETSEM_NOISE_KEY: "zz" })).toMatch(/PETSEM_NOISE_KEY/);
  });

  it("serve requires the Noise static key", () => {
    expect(() => loadConfig({ PETSEM_KEK: KEK_HEX }, { requireNoiseKey: true })).toThrow(/PETSEM_NOISE_KEY/);
    const c = loadConfig(
      { PETSEM_KEK: KEK_HEX, PETSEM_NOISE_KEY: "22".repeat(32) },
      { requireNoiseKey: true },
    );
    expect(c.noiseStaticKey?.length).toBe(32);
  });

  it("Litestream: no replica means no backup; file:// and s3:// replicas and a sync interval are accepted", () => {
    expect(loadConfig({ PETSEM_KEK: KEK_HEX }).litestream).toBeNull();
    expect(
      loadConfig({ PETSEM_KEK: KEK_HEX, PETSEM_LITESTREAM_REPLICA: "file:///backups/petsem" }).litestream,
    ).toEqual({ replica: "file:///backups/petsem", syncInterval: "1s" });
    expect(
      loadConfig({
        PETSEM_KEK: KEK_HEX,
        PETSEM_LITESTREAM_REPLICA: "s3://bucket/petsem",
        PETSEM_LITESTREAM_SYNC_INTERVAL: "250ms",
      }).litestream,
    ).toEqual({ replica: "s3://bucket/petsem", syncInterval: "250ms" });
  });

  it("Litestream: bad replica URLs and intervals are config errors that name the variable, not the value", () => {
    for (const bad of [
      "/no/scheme",
      "file://host/path",
      "file:///?x=1",
      "https://example.com/x",
      "s3://KEYID:SECRETVALUE@bucket/x",
      "not a url",
    ]) {
      const msg = configError({ PETSEM_KEK: KEK_HEX, PETSEM_LITESTREAM_REPLICA: bad });
      expect(msg).toMatch(/PETSEM_LITESTREAM_REPLICA/);
      expect(msg).not.toContain(bad);
      expect(msg).not.toContain("SECRETVALUE");
    }
    for (const bad of ["1", "0s", "fast", "-1s", "1.5s"]) {
      expect(
        configError({
          PETSEM_KEK: KEK_HEX,
          PETSEM_LITESTREAM_REPLICA: "file:///b",
          PETSEM_LITESTREAM_SYNC_INTERVAL: bad,
        }),
      ).toMatch(/PETSEM_LITESTREAM_SYNC_INTERVAL/);
    }
  });

  it("one set of key encodings (hex, base64, base64url); the all-zero key is refused; every problem is listed at once", () => {
    const key = Buffer.alloc(32, 5);
    for (const text of [key.toString("hex"), key.toString("base64"), key.toString("base64url")])
      expect(loadConfig({ PETSEM_KEK: text }).kek).toEqual(new Uint8Array(key));
    expect(configError({ PETSEM_KEK: "00".repeat(32) })).toMatch(/PETSEM_KEK: is all zero/);
    const msg = configError({ PETSEM_PORT: "x", PETSEM_CRYPTO_BACKEND: "rot13" });
    for (const v of ["PETSEM_KEK", "PETSEM_PORT", "PETSEM_CRYPTO_BACKEND"]) expect(msg).toContain(v);
  });

  it("an unknown PETSEM_ variable is warned about with a suggestion, never silently ignored", () => {
    const warnings: string[] = [];
    loadConfig({ PETSEM_KEK: KEK_HEX, PETSEM_PROT: "1" }, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringMatching(/PETSEM_PROT .*did you mean PETSEM_PORT/)]);
  });
});
