/**
 * Running the tkdb CLI in-process for tests: runCli with argv, env, stdin and buffer streams (no
 * subprocess). cwd defaults to a folder outside the repository, so no development env file is read.
 */
import { Readable } from "node:stream";
import { runCli } from "@tkdb/service";
import { cli } from "../src/cli/index.js";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function buffer() {
  const b = {
    text: "",
    write(s: string) {
      b.text += s;
    },
  };
  return b;
}

export async function runTkdb(
  argv: string[],
  opts: { env?: Record<string, string>; stdin?: string; cwd: string; signal?: AbortSignal },
): Promise<Run> {
  const stdout = buffer();
  const stderr = buffer();
  const code = await runCli(cli, {
    argv,
    env: opts.env ?? {},
    stdout,
    stderr,
    cwd: opts.cwd,
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Starts `tkdb serve` in-process on a free loopback port; resolves to its banner and a stop(). */
export async function serveTkdb(
  env: Record<string, string>,
  cwd: string,
): Promise<{ url: string; publicKey: string; stop(): Promise<number> }> {
  const stop = new AbortController();
  const out = buffer();
  const err = buffer();
  const served = runCli(cli, { argv: ["serve"], env, stdout: out, stderr: err, cwd, signal: stop.signal });
  let done = false;
  served.finally(() => {
    done = true;
  });
  for (let i = 0; i < 1200 && !out.text.includes("\n") && !done; i++)
    await new Promise((r) => setTimeout(r, 50));
  if (!out.text.includes("\n")) {
    stop.abort();
    throw new Error(`tkdb serve did not start: ${err.text.slice(0, 2000)}`);
  }
  const banner = JSON.parse(out.text.split("\n")[0] as string) as { url: string; publicKey: string };
  return {
    url: banner.url,
    publicKey: banner.publicKey,
    stop: async () => {
      stop.abort();
      return served;
    },
  };
}
