/**
 * The real Litestream binary (v0.3.13 from @flydotio/litestream 1.0.1). The npm wrapper in
 * node_modules/.bin always exits 0 and does not forward signals (so no final sync on SIGTERM),
 * hence the platform package's binary is resolved relative to the wrapper and run directly.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LitestreamError } from "./errors.js";

/** The Litestream version the package is tested with; configs are written in its (0.3) syntax. */
export const LITESTREAM_VERSION = "v0.3.13";

/** Absolute path of the Litestream binary for this platform; `config` error when not installed. */
export function litestreamBinary(): string {
  const pkg = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    const wrapper = createRequire(import.meta.url).resolve("@flydotio/litestream/package.json");
    const platformPkg = createRequire(wrapper).resolve(`${pkg}/package.json`);
    const bin = join(dirname(platformPkg), "litestream");
    if (!existsSync(bin)) throw new Error("missing binary");
    return bin;
  } catch (cause) {
    throw new LitestreamError("config", `the Litestream binary (${pkg}) is not installed`, { cause });
  }
}
