/**
 * Protocol names (Noise §8) and the handshake patterns we support (§7.4, §7.5, §9).
 * Only `Noise_<IK|KK|NN|XX>[pskN…]_25519_ChaChaPoly_<BLAKE2s|SHA256>` is accepted.
 */
import type { HashName } from "./crypto.js";
import { NoiseArgumentError } from "./errors.js";

export type Token = "e" | "s" | "ee" | "es" | "se" | "ss" | "psk";
export type BasePattern = "IK" | "KK" | "NN" | "XX";

export interface HandshakePattern {
  /** Pre-message tokens the initiator's static contributes (`-> s`). */
  readonly initiatorPre: readonly Token[];
  /** Pre-message tokens the responder's static contributes (`<- s`). */
  readonly responderPre: readonly Token[];
  /** Message patterns; index 0 is written by the initiator, then they alternate. */
  readonly messages: readonly (readonly Token[])[];
}

export interface Protocol {
  readonly name: string;
  readonly pattern: BasePattern;
  readonly psks: readonly number[];
  readonly hash: HashName;
  readonly handshake: HandshakePattern;
}

// Noise §7.4 (NN, KK, IK) and §7.5 (XX).
const BASE: Record<BasePattern, HandshakePattern> = {
  NN: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee"]] },
  KK: {
    initiatorPre: ["s"],
    responderPre: ["s"],
    messages: [
      ["e", "es", "ss"],
      ["e", "ee", "se"],
    ],
  },
  IK: {
    initiatorPre: [],
    responderPre: ["s"],
    messages: [
      ["e", "es", "s", "ss"],
      ["e", "ee", "se"],
    ],
  },
  XX: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee", "s", "es"], ["s", "se"]] },
};

const NAME_RE = /^Noise_(IK|KK|NN|XX)((?:\+?psk[0-9])*)_25519_ChaChaPoly_(BLAKE2s|SHA256)$/;

/** Parse a full protocol name into its pattern (with psk modifiers applied, §9.2) and hash. */
export function parseProtocolName(name: string): Protocol {
  const m = typeof name === "string" ? NAME_RE.exec(name) : null;
  if (m === null) throw new NoiseArgumentError("unsupported Noise protocol name");
  const pattern = m[1] as BasePattern;
  const psks = Array.from((m[2] ?? "").matchAll(/psk([0-9])/g), (x) => Number(x[1]));
  const base = BASE[pattern];
  const messages = base.messages.map((msg) => [...msg]);
  for (const n of psks) {
    // §9.2: psk0 goes at the start of the first message, pskN at the end of the Nth message.
    if (n === 0) (messages[0] as Token[]).unshift("psk");
    else if (n <= messages.length) (messages[n - 1] as Token[]).push("psk");
    else throw new NoiseArgumentError("psk modifier beyond the last handshake message");
  }
  if (new Set(psks).size !== psks.length) throw new NoiseArgumentError("repeated psk modifier");
  return {
    name,
    pattern,
    psks,
    hash: m[3] as HashName,
    handshake: { initiatorPre: base.initiatorPre, responderPre: base.responderPre, messages },
  };
}
