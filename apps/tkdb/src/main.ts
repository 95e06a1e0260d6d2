/** Entry point: `tsx src/main.ts` is `tkdb serve` (configuration from TKDB_* variables). */
import { mainServe } from "./cli.js";

mainServe().then((code) => {
  process.exitCode = code;
});
