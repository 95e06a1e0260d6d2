/**
 * For the online CLI tests: a real petsem on loopback (in-process, its own temp folder), the
 * tokens it mints, tkdb's part played with the shared key (a real discharge, as test/rpc.test.ts
 * does), and the CLI run in-process through runPetsemCli with buffers.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { FlyioUserID, UserTokenNonce } from "@tkdb/caveats";
import { dischargeTicket, Macaroon, Nonce, ValidityWindow } from "@tkdb/macaroon";
import { petsemCaveatKit as kit } from "../src/caveat-kit.js";
import { runPetsemCli } from "../src/cli/index.js";
import { type RunningPetsem, startPetsem } from "../src/server.js";

export const TKDB = "https://api.fly.io/v1";

export class Buf {
  text = "";
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export interface Ran {
  code: number;
  out: string;
  err: string;
}

export interface OnlinePetsem {
  readonly petsem: RunningPetsem;
  readonly dir: string;
  /** PETSEM_URL, PETSEM_PUBLIC_KEY and both tokens */
  readonly env: Record<string, string>;
  readonly reader: string;
  /** tkdb's discharge of the reader's ticket for (org, app), valid 60 s */
  discharge(org: bigint, app: bigint, reader?: string): string;
  close(): Promise<void>;
}

export async function startOnline(): Promise<OnlinePetsem> {
  const dir = mkdtempSync(join(tmpdir(), "petsem-cli-online-"));
  const sharedKey = new Uint8Array(randomBytes(32));
  const petsem = await startPetsem({
    file: join(dir, "petsem.db"),
    kek: new Uint8Array(randomBytes(32)),
    noiseStaticKey: new Uint8Array(randomBytes(32)),
    tkdbSharedKey: sharedKey,
    tkdbLocation: TKDB,
    unsafeTestRevocationSource: {
      revocations: async (cursor?: string) => ({ nonces: [], cursor: cursor ?? "0" }),
    },
    port: 0,
  });
  const writer = petsem.authority.mintWriter();
  const reader = petsem.authority.mintReader();
  const userNonce = Nonce.create(new Uint8Array(randomBytes(8)), false).encode();
  return {
    petsem,
    dir,
    reader,
    env: {
      PETSEM_URL: petsem.url,
      PETSEM_PUBLIC_KEY: Buffer.from(petsem.publicKey).toString("hex"),
      PETSEM_WRITER_TOKEN: writer,
      PETSEM_READER_TOKEN: reader,
    },
    discharge(org, app, forReader = reader) {
      const m = Macaroon.fromStringUnverified(forReader, { registry: kit.registry });
      const ticket = m.thirdPartyTickets().get(TKDB)?.[0];
      if (!ticket) throw new Error("reader has no tkdb ticket");
      const { discharge: d } = dischargeTicket(sharedKey, TKDB, ticket, { registry: kit.registry });
      const now = BigInt(Math.floor(Date.now() / 1000));
      d.add(kit.secretScope(org, app), new FlyioUserID(1n), new UserTokenNonce(userNonce));
      d.add(new ValidityWindow(now - 5n, now + 60n));
      return d.toString();
    },
    async close() {
      await petsem.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs one petsem command line in-process (cwd: a temp folder, so no development env file). */
export async function petsemCli(
  argv: string[],
  env: Record<string, string>,
  opts: { stdin?: string; cwd: string },
): Promise<Ran> {
  const stdout = new Buf();
  const stderr = new Buf();
  const code = await runPetsemCli({
    argv,
    env,
    stdout,
    stderr,
    cwd: opts.cwd,
    ...(opts.stdin === undefined ? {} : { stdin: Readable.from([opts.stdin]) }),
  });
  return { code, out: stdout.text, err: stderr.text };
}
