/**
 * petsem CLI (`pnpm --filter petsem petsem <command>`):
 *   keygen                                  print fresh keys as env lines (KEK, Noise key, tkdb shared key)
 *   serve                                   run the HTTP/Noise server (env: see src/env.ts)
 *   token mint --writer [--org N [--app N]] [--ttl SECONDS]
 *   token mint --reader [--ttl SECONDS]
 * Tokens are printed to stdout only; nothing secret is ever logged.
 */
import { generateKeyHex, noiseKeyPair } from "./crypto.js";
import { loadConfig } from "./env.js";
import { isPetsemError } from "./errors.js";
import { openPetsem, startPetsem } from "./server.js";

function usage(): never {
  process.stderr.write(
    "usage: petsem keygen | serve | token mint (--writer [--org N [--app N]] | --reader) [--ttl SECONDS]\n",
  );
  process.exit(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || !/^\d+$/.test(v)) usage();
  return v;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === "keygen") {
    const kp = noiseKeyPair();
    process.stdout.write(
      [
        `PETSEM_KEK=${generateKeyHex()}`,
        `PETSEM_NOISE_KEY=${Buffer.from(kp.secretKey).toString("hex")}`,
        `# Noise public key (give to clients): ${Buffer.from(kp.publicKey).toString("hex")}`,
        `PETSEM_TKDB_SHARED_KEY=${generateKeyHex()}`,
        "",
      ].join("\n"),
    );
    return;
  }
  if (cmd === "serve") {
    const config = loadConfig(process.env, { requireNoiseKey: true });
    const running = await startPetsem(config);
    process.stdout.write(
      `${JSON.stringify({ petsem: running.url, noise_public_key: Buffer.from(running.publicKey).toString("hex") })}\n`,
    );
    const stop = () => {
      void running.close().then(() => process.exit(0));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    return;
  }
  if (cmd === "token" && rest[0] === "mint") {
    const args = rest.slice(1);
    const writer = args.includes("--writer");
    const reader = args.includes("--reader");
    if (writer === reader) usage();
    const org = flag(args, "--org");
    const app = flag(args, "--app");
    const ttl = flag(args, "--ttl");
    const config = loadConfig(process.env);
    const { store, authority } = openPetsem(config);
    try {
      const opts = {
        ...(org === undefined ? {} : { org: BigInt(org) }),
        ...(app === undefined ? {} : { app: BigInt(app) }),
        ...(ttl === undefined ? {} : { ttlSeconds: Number(ttl) }),
      };
      process.stdout.write(`${writer ? authority.mintWriter(opts) : authority.mintReader(opts)}\n`);
    } finally {
      store.close();
    }
    return;
  }
  usage();
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // Only our own fixed messages are printed; never a stack that could hold input.
  process.stderr.write(`petsem: ${isPetsemError(e) ? `${e.code}: ${e.message}` : "unexpected error"}\n`);
  process.exit(1);
});
