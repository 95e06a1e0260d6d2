/**
 * The bench's own tools (test-e2e/bench): the load generator counts and checks every answer, the
 * profile attribution puts each sample where profile.ts says, and the performance.json writer
 * merges instead of replacing. No figure is asserted: these check the measuring, not the measured.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDistributed } from "../bench/loadgen/coordinator.js";
import { echoNode, type ProcServer } from "../bench/peer/servers.js";
import { attribute, type CpuProfile } from "../bench/profile.js";
import { mergePerformanceJson, writeSection } from "../bench/report.js";

/** A server in its own process whose echo is off by one: every answer is wrong. */
function liarServer(): Promise<{ url: string; child: ChildProcess }> {
  const code = `require("node:http").createServer((q, s) => { let b = ""; q.on("data", (c) => (b += c));
    q.on("end", () => s.end(JSON.stringify({ ok: true, echo: JSON.parse(b).n + 1 }))); })
    .listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", (b: Buffer) =>
      resolve({ url: `http://127.0.0.1:${b.toString().trim()}/`, child }),
    );
    child.once("exit", (c) => reject(new Error(`liar exited ${c}`)));
  });
}

describe("load generator", () => {
  let echo: ProcServer;
  let liar: { url: string; child: ChildProcess };
  beforeAll(async () => {
    echo = await echoNode();
    liar = await liarServer();
  }, 60_000);
  afterAll(async () => {
    await echo?.stop();
    liar?.child.kill("SIGTERM");
  });

  it("runs the whole count across worker processes and merges every latency", async () => {
    const r = await runDistributed({
      name: "echo",
      spec: { kind: "echo", url: echo.url },
      processes: 2,
      callersPerProcess: 2,
      count: 400,
      maxMs: 120_000,
      warmupOps: 20,
      serverPids: [echo.pid],
    });
    expect(r.ops).toBe(400);
    expect(r.errors).toBe(0);
    expect(r.layout).toBe("2x2");
    expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
    expect(r.p99Ms).toBeLessThanOrEqual(r.maxMs);
  }, 180_000);

  it("counts a wrong answer as an error, never as a success", async () => {
    const r = await runDistributed({
      name: "liar",
      spec: { kind: "echo", url: liar.url },
      processes: 1,
      callersPerProcess: 4,
      count: 50,
      maxMs: 120_000,
      warmupOps: 0,
      warmupMs: 0,
    });
    expect(r.ops).toBe(0);
    expect(r.errors).toBe(50);
    expect(r.errorSamples[0]).toContain("wrong answer");
  }, 180_000);
});

describe("profile attribution", () => {
  // root → program → tkdb rpc → (audit | macaroon → node:crypto → native | JSON.parse), plus idle.
  const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
    id,
    callFrame: { functionName, url, lineNumber: 0 },
    children,
  });
  const profile: CpuProfile = {
    nodes: [
      frame(1, "(root)", "", [2, 3, 9]),
      frame(2, "(idle)", ""),
      frame(3, "handle", "file:///r/apps/tkdb/src/server.ts", [4, 5, 8]),
      frame(4, "appendAudit", "file:///r/apps/tkdb/src/store.ts", [10]),
      frame(5, "verify", "file:///r/packages/macaroon/src/verify.ts", [6]),
      frame(6, "digest", "node:internal/crypto/hash", [7]),
      frame(7, "digest", ""),
      frame(8, "parse", ""),
      frame(9, "(garbage collector)", ""),
      frame(10, "run", "file:///r/node_modules/.pnpm/better-sqlite3@1/node_modules/better-sqlite3/lib/x.js"),
    ],
    // One sample each of idle, audit's database write, HMAC under macaroon, JSON, gc; 10 µs apart.
    samples: [2, 10, 7, 8, 9, 2],
    timeDeltas: [0, 10, 10, 10, 10, 10],
    startTime: 0,
    endTime: 60,
  };

  it("charges audit's database writes to audit, node:crypto under macaroon code to crypto, and skips idle", () => {
    const b = attribute(profile, 1);
    expect(b.us.audit).toBe(10);
    expect(b.us.database).toBe(0);
    expect(b.us.crypto).toBe(10);
    expect(b.us.JSON).toBe(10);
    expect(b.us.gc).toBe(10);
    expect(b.busyMs).toBe(0.04);
    expect(b.share.audit).toBe(0.25);
  });
});

describe("performance.json and PERFORMANCE.md writers", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-report-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("merges a bench's keys into performance.json and keeps every other bench's keys", () => {
    const path = join(dir, "performance.json");
    writeFileSync(
      path,
      JSON.stringify({ db_bytes_per_100k_discharges: 123, verify_vs_peer_introspection: 0.1 }),
    );
    mergePerformanceJson({ verify_vs_peer_introspection: 1.3, boot_p50_ms: 4 }, path);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
      db_bytes_per_100k_discharges: 123,
      verify_vs_peer_introspection: 1.3,
      boot_p50_ms: 4,
    });
  });

  it("replaces its own PERFORMANCE.md section in place and leaves the rest of the file alone", () => {
    const path = join(dir, "PERFORMANCE.md");
    writeFileSync(path, "# Performance\n\nbefore\n");
    writeSection("x", "first", path);
    writeFileSync(path, `${readFileSync(path, "utf8")}\nafter\n`);
    writeSection("x", "second", path);
    const text = readFileSync(path, "utf8");
    expect(text).toContain("before");
    expect(text).toContain("after");
    expect(text).toContain("<!-- bench:x -->\nsecond\n<!-- /bench:x -->");
    expect(text).not.toContain("first");
  });
});
