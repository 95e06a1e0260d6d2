import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fromHex } from "../src/bytes.js";
import { getNative, type NoiseCrypto, noble } from "../src/index.js";

const native = getNative();
if (native === undefined) throw new Error("tests need node:crypto");

/** Both backends, for describe.each. */
export const backends: [string, NoiseCrypto][] = [
  ["native", native],
  ["noble", noble],
];

export interface VectorMessage {
  payload: string;
  ciphertext: string;
}

export interface Vector {
  protocol_name?: string;
  name?: string;
  init_prologue: string;
  resp_prologue: string;
  init_psks?: string[];
  resp_psks?: string[];
  init_static?: string;
  resp_static?: string;
  init_ephemeral?: string;
  resp_ephemeral?: string;
  init_remote_static?: string;
  resp_remote_static?: string;
  handshake_hash?: string;
  messages: VectorMessage[];
}

export const VECTOR_FILES = ["cacophony.json", "snow.json", "noise-c-basic.json", "flynn-noise.json"];

export function loadVectors(file: string): Vector[] {
  const path = fileURLToPath(new URL(`../../../../shared/vectors/noise/${file}`, import.meta.url));
  const json = JSON.parse(readFileSync(path, "utf8")) as { vectors: Vector[] };
  return json.vectors;
}

export const hex = fromHex;
