import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { forgetReplicator, litestreamBinary, reapStaleReplicator, recordReplicator } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "litestream-pkg-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
const exited = (c: ChildProcess) => new Promise<void>((r) => (running(c) ? c.once("exit", () => r()) : r()));

/** A real `litestream replicate` of an (empty) database to a file replica. */
function replicator(name: string): { child: ChildProcess; config: string } {
  const config = join(dir, `${name}.yml`);
  writeFileSync(
    config,
    `dbs:\n  - path: ${join(dir, `${name}.db`)}\n    replicas:\n      - url: file://${join(dir, `${name}-replica`)}\n`,
  );
  const child = spawn(litestreamBinary(), ["replicate", "-config", config], { stdio: "ignore" });
  children.push(child);
  return { child, config };
}

async function waitForExec(c: ChildProcess) {
  // The cmdline is Litestream's once the exec is done.
  for (let i = 0; i < 100; i++) {
    try {
      if (readFileSync(`/proc/${c.pid}/cmdline`, "utf8").includes("replicate")) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("@tkdb/litestream", () => {
  it("finds an executable Litestream binary for this platform", () => {
    const bin = litestreamBinary();
    expect(statSync(bin).isFile()).toBe(true);
    expect(() => accessSync(bin, constants.X_OK)).not.toThrow();
  });

  it("a replicator recorded with its config is stopped by the next start (SIGTERM, it exits)", async () => {
    const { child, config } = replicator("a");
    await waitForExec(child);
    const pidFile = join(dir, "a.pid");
    recordReplicator(pidFile, child.pid, config);
    expect(statSync(pidFile).mode & 0o777).toBe(0o600);
    expect(await reapStaleReplicator(pidFile)).toBe(true);
    await exited(child);
    expect(child.signalCode === "SIGTERM" || child.exitCode !== null).toBe(true);
  });

  it("leaves alone a Litestream running another config, and any process that is not Litestream", async () => {
    const other = replicator("b");
    await waitForExec(other.child);
    const pidFile = join(dir, "b.pid");
    recordReplicator(pidFile, other.child.pid, join(dir, "not-this.yml"));
    expect(await reapStaleReplicator(pidFile)).toBe(false);
    // A record without its config path names no replicator, even when the pid is a Litestream.
    for (const text of [`${other.child.pid}`, `${other.child.pid} `]) {
      writeFileSync(pidFile, text);
      expect(await reapStaleReplicator(pidFile)).toBe(false);
    }
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    children.push(sleeper);
    recordReplicator(pidFile, sleeper.pid, other.config);
    expect(await reapStaleReplicator(pidFile)).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(running(other.child)).toBe(true);
    expect(running(sleeper)).toBe(true);
  });

  it("a missing, empty or garbled pid file stops nothing", async () => {
    expect(await reapStaleReplicator(join(dir, "none.pid"))).toBe(false);
    for (const text of ["", "x y", "1 /etc/passwd", `${process.pid} x`, "-5 y"]) {
      writeFileSync(join(dir, "g.pid"), text);
      expect(await reapStaleReplicator(join(dir, "g.pid"))).toBe(false);
    }
  });

  it("forgetting an exited replicator keeps a successor's record, and removes only its own", () => {
    const pidFile = join(dir, "f.pid");
    recordReplicator(pidFile, 1111, "/cfg/a.yml");
    recordReplicator(pidFile, 2222, "/cfg/a.yml");
    forgetReplicator(pidFile, 1111, "/cfg/a.yml");
    expect(readFileSync(pidFile, "utf8")).toBe("2222 /cfg/a.yml");
    forgetReplicator(pidFile, 2222, "/cfg/b.yml");
    expect(readFileSync(pidFile, "utf8")).toBe("2222 /cfg/a.yml");
    forgetReplicator(pidFile, 2222, "/cfg/a.yml");
    expect(() => readFileSync(pidFile)).toThrow();
  });
});
