import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NotPrimaryError } from "./errors.js";

/**
 * LiteFS writes `<mount>/.primary` holding the primary's name on replicas only; its absence means
 * this node is the primary (or LiteFS is not in use).
 */
export function assertPrimary(litefsDir: string | undefined): void {
  if (litefsDir === undefined) return;
  let primary: string;
  try {
    primary = readFileSync(join(litefsDir, ".primary"), "utf8").trim();
  } catch {
    return;
  }
  throw new NotPrimaryError(primary || "unknown");
}

export function isPrimary(litefsDir: string | undefined): boolean {
  try {
    assertPrimary(litefsDir);
    return true;
  } catch {
    return false;
  }
}
