/**
 * Runs the services as real processes, the way an operator would (`tsx apps/<app>/src/cli.ts
 * serve` with configuration in the environment), on loopback, with fresh data folders and keys.
 * Tests drive them only through @tkdb/client; every process is stopped by the test that started it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveBackend } from "@tkdb/noise";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/**
 * Services run as ONE process (`node --import tsx`, as the apps' own tests run them), not behind the
 * tsx wrapper: a SIGKILL must reach the server itself, not orphan it behind a dead wrapper.
 */
const NODE_TSX = [process.execPath, "--import", "tsx"] as const;

export interface RunningService {
  name: string;
  url: string;
  publicKey: Uint8Array;
  child: ChildProcess;
  /** Everything the process wrote, for the "no secret in output" scans. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function x25519(): { secretKey: Uint8Array; publicKey: Uint8Array } {
  return resolveBackend("native").generateKeyPair();
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
export const key32 = () => new Uint8Array(randomBytes(32));

/** Parses a hex or base64url public key as printed by a service at start. */
function parseKey(s: string): Uint8Array {
  return new Uint8Array(/^[0-9a-f]{64}$/i.test(s) ? Buffer.from(s, "hex") : Buffer.from(s, "base64url"));
}

/**
 * Starts `apps/<name>` with `serve` and waits for the JSON line it prints once listening:
 * `{"<name>": "<url>", "noise_public_key": "<hex|base64url>"}`.
 */
export function startService(
  name: "tkdb" | "petsem",
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<RunningService> {
  const child = spawn(
    NODE_TSX[0],
    [...NODE_TSX.slice(1), join(ROOT, "apps", name, "src", "cli.ts"), "serve"],
    {
      cwd: ROOT,
      env: { ...process.env, ...env, NODE_ENV: "test" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const ready = (j: Record<string, unknown>): boolean => {
      const url = j[name] ?? j.url;
      const key = j.noise_public_key ?? j.publicKey ?? j.public_key;
      if (typeof url !== "string" || typeof key !== "string") return false;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
      });
      resolve({
        name,
        url,
        publicKey: parseKey(key),
        child,
        output: () => out,
        stop: (signal = "SIGTERM") =>
          new Promise<void>((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            // A service that does not stop within 10 s is killed, so no test leaves one behind.
            const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(force);
              r();
            });
            child.kill(signal);
          }),
      });
      return true;
    };
    let stdout = "";
    /** The ready announcement: one JSON object, on one line or pretty-printed. */
    const onData = (b: Buffer) => {
      out += b.toString();
      stdout += b.toString();
      const candidates = [stdout.trim(), ...stdout.split("\n").filter((l) => l.startsWith("{"))];
      for (const c of candidates) {
        try {
          const j = JSON.parse(c);
          if (j && typeof j === "object" && ready(j)) return;
        } catch {
          // not a whole JSON object yet
        }
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${out}`));
    });
  });
}

/** Runs an app CLI command to completion (async: never block the loop servers may share). */
export function cli(
  name: "tkdb" | "petsem",
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      NODE_TSX[0],
      [...NODE_TSX.slice(1), join(ROOT, "apps", name, "src", "cli.ts"), ...args],
      {
        cwd: ROOT,
        // production: a data/dev.env left by a developer's `npm start` must not fill in variables
        // the test did not set (the caller may still set NODE_ENV itself)
        env: { ...process.env, NODE_ENV: "production", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("exit", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
