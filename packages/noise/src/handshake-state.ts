/**
 * Noise §5.3: the HandshakeState object, for the patterns in protocol.ts.
 *
 * Any error during writeMessage/readMessage is fatal: the state is marked failed, its secrets are
 * dropped, and every later call throws NoiseStateError (pitfall: half-updated state after a
 * failed read). Ephemeral keys always come from the backend's CSPRNG; the only way to fix them
 * is the loudly named test hook in `unsafe-testing.ts`.
 */
import { abytes, concatBytes, EMPTY, utf8 } from "./bytes.js";
import { type CipherState, MAX_MESSAGE_LENGTH, TAG_LENGTH } from "./cipher-state.js";
import type { KeyPair, NoiseCrypto } from "./crypto.js";
import { type BackendName, resolveBackend } from "./crypto.js";
import {
  NoiseArgumentError,
  NoiseError,
  NoiseHandshakeError,
  NoiseMessageTooLargeError,
  NoiseStateError,
} from "./errors.js";
import { type Protocol, parseProtocolName, type Token } from "./protocol.js";
import { SymmetricState } from "./symmetric-state.js";

const DHLEN = 32;

export interface HandshakeOptions {
  /** Full protocol name, e.g. "Noise_IK_25519_ChaChaPoly_BLAKE2s". */
  protocolName: string;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static key pair, when the pattern uses one. */
  staticKeyPair?: KeyPair;
  /** Remote static public key known in advance (pre-message `s`). */
  remoteStaticKey?: Uint8Array;
  /** 32-byte pre-shared keys, consumed in order by the `psk` tokens. */
  psks?: Uint8Array[];
  backend?: BackendName | NoiseCrypto;
}

export interface SplitResult {
  /** The CipherState this side sends with (c1 for the initiator, c2 for the responder). */
  send: CipherState;
  /** The CipherState this side receives with. */
  receive: CipherState;
}

/** Set only by `unsafe-testing.ts`; never reachable from the package's main entry point. */
export const UNSAFE_EPHEMERAL_HOOK = Symbol("noise.unsafeTestOnlyEphemeral");

export class HandshakeState {
  readonly protocol: Protocol;
  readonly initiator: boolean;
  readonly #crypto: NoiseCrypto;
  #ss: SymmetricState | null;
  #s: KeyPair | null;
  #e: KeyPair | null = null;
  #rs: Uint8Array | null;
  #re: Uint8Array | null = null;
  #psks: Uint8Array[];
  #msgIndex = 0;
  #failed = false;
  #split = false;
  #finalHash: Uint8Array | null = null;
  [UNSAFE_EPHEMERAL_HOOK]: Uint8Array[] | undefined;

  /** Initialize(handshake_pattern, initiator, prologue, s, e, rs, re) (§5.3). */
  constructor(opts: HandshakeOptions) {
    this.protocol = parseProtocolName(opts.protocolName);
    if (typeof opts.initiator !== "boolean") throw new NoiseArgumentError("initiator must be a boolean");
    this.initiator = opts.initiator;
    this.#crypto = resolveBackend(opts.backend);
    const prologue = opts.prologue === undefined ? EMPTY : abytes(opts.prologue, undefined, "prologue");
    const hp = this.protocol.handshake;
    const usesLocalS = (this.initiator ? hp.initiatorPre : hp.responderPre).includes("s") || this.#writesS();
    const needsRemoteS = (this.initiator ? hp.responderPre : hp.initiatorPre).includes("s");

    this.#s = null;
    if (opts.staticKeyPair !== undefined) {
      const { publicKey, secretKey } = opts.staticKeyPair;
      abytes(publicKey, DHLEN, "staticKeyPair.publicKey");
      abytes(secretKey, DHLEN, "staticKeyPair.secretKey");
      this.#s = { publicKey: Uint8Array.from(publicKey), secretKey };
    } else if (usesLocalS) {
      throw new NoiseArgumentError("this pattern needs a local static key pair");
    }
    this.#rs = null;
    if (opts.remoteStaticKey !== undefined) {
      this.#rs = Uint8Array.from(abytes(opts.remoteStaticKey, DHLEN, "remoteStaticKey"));
    } else if (needsRemoteS) {
      throw new NoiseArgumentError("this pattern needs the remote static public key");
    }
    this.#psks = (opts.psks ?? []).map((p, i) => Uint8Array.from(abytes(p, 32, `psks[${i}]`)));
    if (this.#psks.length !== this.protocol.psks.length) {
      throw new NoiseArgumentError(`this protocol needs ${this.protocol.psks.length} psk(s)`);
    }

    this.#ss = new SymmetricState(this.#crypto, this.protocol.hash, utf8(this.protocol.name));
    this.#ss.mixHash(prologue);
    // Pre-messages: initiator's first, then the responder's (§7.1).
    if (hp.initiatorPre.includes("s"))
      this.#ss.mixHash(this.initiator ? this.#localS().publicKey : this.#remoteS());
    if (hp.responderPre.includes("s"))
      this.#ss.mixHash(this.initiator ? this.#remoteS() : this.#localS().publicKey);
  }

  #writesS(): boolean {
    const msgs = this.protocol.handshake.messages;
    return msgs.some((m, i) => m.includes("s") && i % 2 === (this.initiator ? 0 : 1));
  }

  #localS(): KeyPair {
    if (this.#s === null) throw new NoiseHandshakeError("missing local static key");
    return this.#s;
  }

  #remoteS(): Uint8Array {
    if (this.#rs === null) throw new NoiseHandshakeError("missing remote static key");
    return this.#rs;
  }

  #sym(): SymmetricState {
    if (this.#failed) throw new NoiseStateError("handshake failed earlier; this state is unusable");
    if (this.#ss === null) throw new NoiseStateError("handshake already finished");
    return this.#ss;
  }

  /** True once every handshake message has been written or read. */
  get isComplete(): boolean {
    return !this.#failed && this.#msgIndex >= this.protocol.handshake.messages.length;
  }

  /** True when it is this side's turn to write. */
  get isMyTurn(): boolean {
    return !this.isComplete && (this.#msgIndex % 2 === 0) === this.initiator;
  }

  /** The remote static public key, once known (pre-message or learned from a message). */
  getRemoteStaticKey(): Uint8Array | null {
    return this.#rs === null ? null : Uint8Array.from(this.#rs);
  }

  /** GetHandshakeHash(): h; after the last message it is the channel binding value (§11.2). */
  getHandshakeHash(): Uint8Array {
    if (this.#finalHash !== null) return Uint8Array.from(this.#finalHash);
    return this.#sym().getHandshakeHash();
  }

  #fail(err: unknown): never {
    this.#failed = true;
    this.#ss = null;
    this.#e = null;
    this.#psks = [];
    if (err instanceof NoiseError && !(err instanceof NoiseArgumentError)) throw err;
    throw new NoiseHandshakeError("handshake failed", { cause: err });
  }

  #generateEphemeral(): KeyPair {
    const injected = this[UNSAFE_EPHEMERAL_HOOK]?.shift();
    if (injected !== undefined) {
      return { secretKey: injected, publicKey: this.#crypto.publicKeyOf(injected) };
    }
    return this.#crypto.generateKeyPair();
  }

  #dh(token: "ee" | "es" | "se" | "ss"): Uint8Array {
    // §5.3: letters are initiator-then-responder, not local-then-remote.
    const e = () => this.#need(this.#e, "e");
    const re = () => this.#need(this.#re, "re");
    const s = () => this.#localS();
    const rs = () => this.#remoteS();
    switch (token) {
      case "ee":
        return this.#crypto.dh(e().secretKey, re());
      case "ss":
        return this.#crypto.dh(s().secretKey, rs());
      case "es":
        return this.initiator ? this.#crypto.dh(e().secretKey, rs()) : this.#crypto.dh(s().secretKey, re());
      case "se":
        return this.initiator ? this.#crypto.dh(s().secretKey, re()) : this.#crypto.dh(e().secretKey, rs());
    }
  }

  #need<T>(v: T | null, what: string): T {
    if (v === null) throw new NoiseHandshakeError(`missing ${what}`);
    return v;
  }

  #nextPsk(): Uint8Array {
    const psk = this.#psks.shift();
    if (psk === undefined) throw new NoiseHandshakeError("missing psk");
    return psk;
  }

  /** WriteMessage(payload, message_buffer) (§5.3). Returns the whole Noise message. */
  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    const ss = this.#sym();
    if (!this.isMyTurn) throw new NoiseStateError("not this side's turn to write");
    abytes(payload, undefined, "payload");
    const tokens = this.protocol.handshake.messages[this.#msgIndex] as readonly Token[];
    try {
      const parts: Uint8Array[] = [];
      let length = 0;
      const push = (b: Uint8Array) => {
        parts.push(b);
        length += b.length;
      };
      for (const t of tokens) {
        if (t === "e") {
          this.#e = this.#generateEphemeral();
          push(Uint8Array.from(this.#e.publicKey));
          ss.mixHash(this.#e.publicKey);
          if (this.protocol.psks.length > 0) ss.mixKey(this.#e.publicKey); // §9.2
        } else if (t === "s") {
          push(ss.encryptAndHash(this.#localS().publicKey));
        } else if (t === "psk") {
          ss.mixKeyAndHash(this.#nextPsk());
        } else {
          ss.mixKey(this.#dh(t));
        }
      }
      const total = length + payload.length + (ss.cipher.hasKey() ? TAG_LENGTH : 0);
      if (total > MAX_MESSAGE_LENGTH) throw new NoiseMessageTooLargeError(total);
      push(ss.encryptAndHash(payload));
      this.#advance();
      return concatBytes(...parts);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** ReadMessage(message, payload_buffer) (§5.3). Returns the decrypted payload. */
  readMessage(message: Uint8Array): Uint8Array {
    const ss = this.#sym();
    if (this.isComplete || this.isMyTurn) throw new NoiseStateError("not this side's turn to read");
    abytes(message, undefined, "message");
    const tokens = this.protocol.handshake.messages[this.#msgIndex] as readonly Token[];
    try {
      if (message.length > MAX_MESSAGE_LENGTH) throw new NoiseMessageTooLargeError(message.length);
      let off = 0;
      const take = (n: number): Uint8Array => {
        if (off + n > message.length) throw new NoiseHandshakeError("handshake message truncated");
        const out = message.subarray(off, off + n);
        off += n;
        return out;
      };
      for (const t of tokens) {
        if (t === "e") {
          const re = Uint8Array.from(take(DHLEN));
          this.#re = re;
          ss.mixHash(re);
          if (this.protocol.psks.length > 0) ss.mixKey(re);
        } else if (t === "s") {
          const rs = ss.decryptAndHash(take(ss.cipher.hasKey() ? DHLEN + TAG_LENGTH : DHLEN));
          this.#rs = Uint8Array.from(rs);
        } else if (t === "psk") {
          ss.mixKeyAndHash(this.#nextPsk());
        } else {
          ss.mixKey(this.#dh(t));
        }
      }
      const rest = message.subarray(off);
      if (ss.cipher.hasKey() && rest.length < TAG_LENGTH)
        throw new NoiseHandshakeError("handshake message truncated");
      const payload = ss.decryptAndHash(rest);
      this.#advance();
      return payload;
    } catch (err) {
      this.#fail(err);
    }
  }

  #advance(): void {
    this.#msgIndex += 1;
    if (this.isComplete) this.#finalHash = this.#sym().getHandshakeHash();
  }

  /**
   * Split() (§5.2) after the last handshake message. Returns the CipherStates oriented for this
   * side: the initiator sends with c1, the responder with c2, whoever wrote last. Callable once.
   */
  split(): SplitResult {
    if (!this.isComplete) throw new NoiseStateError("handshake not complete");
    if (this.#split) throw new NoiseStateError("split() already called");
    const [c1, c2] = this.#sym().split();
    this.#split = true;
    this.#ss = null;
    this.#e = null;
    return this.initiator ? { send: c1, receive: c2 } : { send: c2, receive: c1 };
  }
}
