/** Entry point: `tsx src/main.ts` runs the service configured from TKDB_* environment variables. */
import { serve } from "./serve.js";

serve().catch((err: unknown) => {
  const e = err as { code?: unknown; message?: unknown };
  process.stderr.write(
    `tkdb: ${typeof e.code === "string" ? `${e.code}: ` : ""}${String(e.message ?? err)}\n`,
  );
  process.exitCode = 1;
});
