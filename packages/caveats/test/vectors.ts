import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Known answers from Fly's Go library, read from ../shared/vectors (never copied here). */
export function loadVectors<T = Record<string, unknown>>(name: string): T {
  const p = fileURLToPath(new URL(`../../../../shared/vectors/macaroon/${name}`, import.meta.url));
  return JSON.parse(readFileSync(p, "utf8")) as T;
}

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
export const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
