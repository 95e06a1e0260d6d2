/** `petsem keygen`: fresh keys as env lines (KEK, Noise static key, key shared with tkdb). */
import { type CommandDef, command } from "@tkdb/service";
import { generateKeyHex, noiseKeyPair } from "../crypto.js";

export interface GeneratedKeys {
  readonly PETSEM_KEK: string;
  readonly PETSEM_NOISE_KEY: string;
  /** give to clients (not a secret) */
  readonly noise_public_key: string;
  readonly PETSEM_TKDB_SHARED_KEY: string;
}

export const keygen: CommandDef<GeneratedKeys> = command({
  name: "keygen",
  description: "print fresh keys as environment lines (KEK, Noise static key, key shared with tkdb)",
  examples: ["petsem keygen > petsem.env", "petsem keygen --json"],
  run: () => {
    const kp = noiseKeyPair();
    return {
      PETSEM_KEK: generateKeyHex(),
      PETSEM_NOISE_KEY: Buffer.from(kp.secretKey).toString("hex"),
      noise_public_key: Buffer.from(kp.publicKey).toString("hex"),
      PETSEM_TKDB_SHARED_KEY: generateKeyHex(),
    };
  },
  human: (k) =>
    [
      `PETSEM_KEK=${k.PETSEM_KEK}`,
      `PETSEM_NOISE_KEY=${k.PETSEM_NOISE_KEY}`,
      `# Noise public key (give to clients): ${k.noise_public_key}`,
      `PETSEM_TKDB_SHARED_KEY=${k.PETSEM_TKDB_SHARED_KEY}`,
      "# serve with the shared key also needs tkdb's revocation feed: PETSEM_TKDB_URL=<tkdb url>,",
      "# PETSEM_TKDB_PUBLIC_KEY=<tkdb's Noise public key>",
      "",
    ].join("\n"),
});
