import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    // One file at a time: each starts its own services (several processes, Litestream, load and
    // fuzz floods), and two such files at once on a 2-core machine measure the machine, not them.
    fileParallelism: false,
  },
});
