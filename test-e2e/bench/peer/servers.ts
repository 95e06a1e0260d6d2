/**
 * Starts the comparison servers, each in its own process on 127.0.0.1 with NODE_ENV=production:
 * the node:http and Hono JSON echoes (the floors) and oidc-provider (the peer). Each prints one JSON
 * line with its URL once listening; `stop()` sends SIGTERM and kills it if it lingers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export interface ProcServer {
  url: string;
  pid: number;
  child: ChildProcess;
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

export function startProcServer(
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ProcServer> {
  const child = spawn(process.execPath, [join(here, script)], {
    cwd: here,
    env: { ...process.env, ...env, NODE_ENV: "production" },
    // stderr is dropped: oidc-provider's start-up warnings (in-memory adapter, runtime) are not ours.
    stdio: ["ignore", "pipe", "ignore"],
  });
  const stop = () =>
    new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      child.once("exit", () => {
        clearTimeout(force);
        r();
      });
      child.kill("SIGTERM");
    });
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} did not listen within ${timeoutMs} ms`));
    }, timeoutMs);
    const onExit = (c: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${c}) before listening`));
    };
    child.once("exit", onExit);
    child.stdout?.on("data", (b: Buffer) => {
      buf += b.toString();
      const line = buf.split("\n").find((l) => l.startsWith("{") && l.endsWith("}"));
      if (!line) return;
      try {
        const ready = JSON.parse(line) as Record<string, unknown>;
        if (typeof ready.url !== "string") return;
        clearTimeout(timer);
        child.off("exit", onExit);
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolve({ url: ready.url, pid: child.pid as number, child, ready, stop });
      } catch {
        // not a whole line yet
      }
    });
  });
}

export const echoNode = () => startProcServer("echo-node.mjs");
export const echoHono = () => startProcServer("echo-hono.mjs");

export interface Peer extends ProcServer {
  name: string;
  version: string;
  settings: string;
  introspectionUrl: string;
  clientId: string;
  clientSecret: string;
  /** The one opaque access token every introspection asks about (obtained once). */
  token: string;
}

/** oidc-provider with one client; obtains the one opaque client-credentials access token. */
export async function startPeer(): Promise<Peer> {
  const clientId = "bench-client";
  const clientSecret = randomBytes(32).toString("base64url");
  const s = await startProcServer("oidc-peer.mjs", {
    PEER_CLIENT_ID: clientId,
    PEER_CLIENT_SECRET: clientSecret,
  });
  try {
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`;
    const r = await fetch(`${s.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "api:read" }).toString(),
    });
    const j = (await r.json()) as { access_token?: unknown; token_type?: unknown };
    if (r.status !== 200 || typeof j.access_token !== "string")
      throw new Error(`the peer issued no access token (HTTP ${r.status})`);
    // Opaque: not a JWT (introspection refuses structured tokens anyway).
    if (j.access_token.split(".").length === 3) throw new Error("the peer issued a structured token");
    const version = (
      createRequire(join(here, "oidc-peer.mjs"))("oidc-provider/package.json") as { version: string }
    ).version;
    return {
      ...s,
      name: "oidc-provider",
      version,
      settings: String(s.ready.settings),
      introspectionUrl: `${s.url}/token/introspection`,
      clientId,
      clientSecret,
      token: j.access_token,
    };
  } catch (e) {
    await s.stop();
    throw e;
  }
}
