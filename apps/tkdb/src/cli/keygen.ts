/** `tkdb keygen`: a new Noise static key pair (base64url and hex) and a KEK. */
import { command } from "@tkdb/service";
import { randomBytes, x25519KeyPair } from "../crypto.js";
import { pretty } from "./shared.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");

export const keygen = command({
  name: "keygen",
  description: "print a new Noise static key pair (base64url and hex) and a new KEK (keep them secret)",
  examples: ["tkdb keygen", "tkdb keygen --json"],
  run: () => {
    const kp = x25519KeyPair();
    return {
      noisePrivateKey: b64u(kp.secretKey),
      noisePublicKey: b64u(kp.publicKey),
      noisePrivateKeyHex: hex(kp.secretKey),
      noisePublicKeyHex: hex(kp.publicKey),
      kek: b64u(randomBytes(32)),
    };
  },
  human: pretty,
});
