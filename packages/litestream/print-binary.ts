/**
 * Prints the path of the Litestream binary this package runs, for Dockerfiles and operators, so
 * that no other copy of the lookup exists:
 *   node_modules/.bin/tsx packages/litestream/print-binary.ts   # → /app/node_modules/.pnpm/…/litestream
 * Exits 1 with the reason when the platform package is not installed.
 */
import { litestreamBinary } from "./src/binary.js";

try {
  process.stdout.write(`${litestreamBinary()}\n`);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
}
