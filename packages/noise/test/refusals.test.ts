import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../src/bytes.js";
import {
  CipherState,
  HandshakeState,
  NONCE_MAX,
  type NoiseCrypto,
  NoiseDecryptError,
  NoiseError,
  NoiseInvalidKeyError,
  NoiseMessageTooLargeError,
  NoiseNonceExhaustedError,
  NoiseStateError,
} from "../src/index.js";
import { backends } from "./helpers.js";

const IK = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
const KK = "Noise_KK_25519_ChaChaPoly_BLAKE2s";
const EMPTY = new Uint8Array(0);

/** Low-order (and non-canonical low-order) X25519 u-coordinates. */
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "0000000000000000000000000000000000000000000000000000000000000080",
];

function pair(
  backend: NoiseCrypto,
  name = IK,
  opts: { prologueI?: string; prologueR?: string; wrongRs?: boolean } = {},
) {
  const server = backend.generateKeyPair();
  const client = backend.generateKeyPair();
  const kk = name.includes("_KK");
  const i = new HandshakeState({
    protocolName: name,
    initiator: true,
    prologue: new TextEncoder().encode(opts.prologueI ?? "p"),
    staticKeyPair: client,
    remoteStaticKey: opts.wrongRs ? backend.generateKeyPair().publicKey : server.publicKey,
    backend,
  });
  const r = new HandshakeState({
    protocolName: name,
    initiator: false,
    prologue: new TextEncoder().encode(opts.prologueR ?? "p"),
    staticKeyPair: server,
    remoteStaticKey: kk ? client.publicKey : undefined,
    backend,
  });
  return { i, r, server, client };
}

function flipBit(b: Uint8Array, byte: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(b);
  out[byte] = (out[byte] as number) ^ (1 << bit);
  return out;
}

function transportPair(backend: NoiseCrypto) {
  const { i, r } = pair(backend);
  r.readMessage(i.writeMessage(EMPTY));
  i.readMessage(r.writeMessage(EMPTY));
  return { a: i.split(), b: r.split() };
}

describe.each(backends)("refusals (%s backend)", (_name, backend) => {
  it("a handshake round trip agrees on payloads, handshake hash and transport keys", () => {
    const { i, r, client } = pair(backend);
    const m1 = i.writeMessage(new TextEncoder().encode("hello"));
    expect(new TextDecoder().decode(r.readMessage(m1))).toBe("hello");
    expect(toHex(r.getRemoteStaticKey() as Uint8Array)).toBe(toHex(client.publicKey));
    const m2 = r.writeMessage(new TextEncoder().encode("world"));
    expect(new TextDecoder().decode(i.readMessage(m2))).toBe("world");
    expect(toHex(i.getHandshakeHash())).toBe(toHex(r.getHandshakeHash()));
    const a = i.split();
    const b = r.split();
    expect(toHex(b.receive.decryptWithAd(EMPTY, a.send.encryptWithAd(EMPTY, Uint8Array.of(1, 2))))).toBe(
      "0102",
    );
    expect(toHex(a.receive.decryptWithAd(EMPTY, b.send.encryptWithAd(EMPTY, Uint8Array.of(3))))).toBe("03");
  });

  it("a bit flip anywhere in IK message 1 fails the read and leaves the responder unusable", () => {
    const { i, server } = pair(backend);
    const m1 = i.writeMessage(new TextEncoder().encode("payload"));
    for (let byte = 0; byte < m1.length; byte += 3) {
      const r = new HandshakeState({
        protocolName: IK,
        initiator: false,
        prologue: new TextEncoder().encode("p"),
        staticKeyPair: server,
        backend,
      });
      expect(() => r.readMessage(flipBit(m1, byte, byte % 8))).toThrow(NoiseError);
      // Fatal: even the genuine message is refused afterwards.
      expect(() => r.readMessage(m1)).toThrow(NoiseStateError);
    }
  });

  it("a bit flip anywhere in message 2 fails the initiator's read", () => {
    for (let byte = 0; byte < 48 + 4; byte += 1) {
      const { i, r } = pair(backend);
      r.readMessage(i.writeMessage(EMPTY));
      const m2 = r.writeMessage(Uint8Array.of(9, 9, 9, 9));
      expect(() => i.readMessage(flipBit(m2, byte, 7 - (byte % 8)))).toThrow(NoiseError);
      expect(() => i.split()).toThrow(NoiseStateError);
    }
  });

  it("a different prologue on the responder fails message 1", () => {
    const { i, r } = pair(backend, IK, { prologueR: "q" });
    expect(() => r.readMessage(i.writeMessage(EMPTY))).toThrow(NoiseError);
  });

  it("an initiator holding the wrong responder static key fails at message 1", () => {
    const { i, r } = pair(backend, IK, { wrongRs: true });
    expect(() => r.readMessage(i.writeMessage(EMPTY))).toThrow(NoiseError);
  });

  it("a KK responder expecting another initiator static key fails at message 1", () => {
    const server = backend.generateKeyPair();
    const client = backend.generateKeyPair();
    const i = new HandshakeState({
      protocolName: KK,
      initiator: true,
      staticKeyPair: client,
      remoteStaticKey: server.publicKey,
      backend,
    });
    const r = new HandshakeState({
      protocolName: KK,
      initiator: false,
      staticKeyPair: server,
      remoteStaticKey: backend.generateKeyPair().publicKey,
      backend,
    });
    expect(() => r.readMessage(i.writeMessage(EMPTY))).toThrow(NoiseError);
  });

  it("every truncation of message 1 and message 2 fails with a NoiseError", () => {
    const { i, r, server, client } = pair(backend, KK);
    const m1 = i.writeMessage(Uint8Array.of(1, 2, 3));
    for (const len of [0, 1, 31, 32, 47, 48, 49, m1.length - 1]) {
      const rr = new HandshakeState({
        protocolName: KK,
        initiator: false,
        staticKeyPair: server,
        remoteStaticKey: client.publicKey,
        backend,
      });
      expect(() => rr.readMessage(m1.subarray(0, len))).toThrow(NoiseError);
    }
    r.readMessage(m1);
    const m2 = r.writeMessage(EMPTY);
    expect(() => i.readMessage(m2.subarray(0, m2.length - 1))).toThrow(NoiseError);
  });

  it("a failed transport decrypt does not advance the receive nonce", () => {
    const { a, b } = transportPair(backend);
    const c0 = a.send.encryptWithAd(EMPTY, Uint8Array.of(42));
    expect(() => b.receive.decryptWithAd(EMPTY, flipBit(c0, 0))).toThrow(NoiseDecryptError);
    expect(() => b.receive.decryptWithAd(EMPTY, c0.subarray(0, 10))).toThrow(NoiseDecryptError);
    expect(b.receive.nonce).toBe(0n);
    expect(toHex(b.receive.decryptWithAd(EMPTY, c0))).toBe("2a");
    expect(b.receive.nonce).toBe(1n);
  });

  it("nonce 2^64-2 is the last usable nonce and 2^64-1 is refused both ways", () => {
    const { a, b } = transportPair(backend);
    a.send.setNonce(NONCE_MAX - 1n);
    b.receive.setNonce(NONCE_MAX - 1n);
    const last = a.send.encryptWithAd(EMPTY, Uint8Array.of(7));
    expect(toHex(b.receive.decryptWithAd(EMPTY, last))).toBe("07");
    expect(a.send.nonce).toBe(NONCE_MAX);
    expect(() => a.send.encryptWithAd(EMPTY, Uint8Array.of(7))).toThrow(NoiseNonceExhaustedError);
    expect(() => b.receive.decryptWithAd(EMPTY, last)).toThrow(NoiseNonceExhaustedError);
  });

  it("nonces 2^32-1 and 2^32 encrypt distinctly and decrypt on the other side", () => {
    const { a, b } = transportPair(backend);
    a.send.setNonce(0xffff_ffffn);
    b.receive.setNonce(0xffff_ffffn);
    const x = a.send.encryptWithAd(EMPTY, Uint8Array.of(1));
    const y = a.send.encryptWithAd(EMPTY, Uint8Array.of(1));
    expect(toHex(x)).not.toBe(toHex(y));
    expect(toHex(b.receive.decryptWithAd(EMPTY, x))).toBe("01");
    expect(toHex(b.receive.decryptWithAd(EMPTY, y))).toBe("01");
  });

  it("transport messages over 65535 bytes are refused; exactly 65535 works", () => {
    const { a, b } = transportPair(backend);
    expect(() => a.send.encryptWithAd(EMPTY, new Uint8Array(65520))).toThrow(NoiseMessageTooLargeError);
    expect(a.send.nonce).toBe(0n);
    const max = a.send.encryptWithAd(EMPTY, new Uint8Array(65519));
    expect(max.length).toBe(65535);
    expect(b.receive.decryptWithAd(EMPTY, max).length).toBe(65519);
    expect(() => b.receive.decryptWithAd(EMPTY, new Uint8Array(65536))).toThrow(NoiseMessageTooLargeError);
  });

  it("handshake messages over 65535 bytes are refused on write and on read", () => {
    const ok = pair(backend);
    expect(ok.i.writeMessage(new Uint8Array(65535 - 96)).length).toBe(65535);
    const big = pair(backend);
    expect(() => big.i.writeMessage(new Uint8Array(65535 - 95))).toThrow(NoiseMessageTooLargeError);
    expect(() => big.i.writeMessage(EMPTY)).toThrow(NoiseStateError);
    expect(() => ok.r.readMessage(new Uint8Array(65536))).toThrow(NoiseMessageTooLargeError);
  });

  it.each(LOW_ORDER)("DH with the low-order public key %s is refused", (pub) => {
    expect(() => backend.dh(backend.generateKeyPair().secretKey, fromHex(pub))).toThrow(NoiseInvalidKeyError);
  });

  it("a message 1 carrying a low-order ephemeral key is refused", () => {
    const { i, r } = pair(backend);
    const m1 = i.writeMessage(EMPTY);
    m1.set(fromHex(LOW_ORDER[2] as string), 0);
    expect(() => r.readMessage(m1)).toThrow(NoiseInvalidKeyError);
  });

  it("an initiator given a low-order responder static key cannot write message 1", () => {
    const i = new HandshakeState({
      protocolName: IK,
      initiator: true,
      staticKeyPair: backend.generateKeyPair(),
      remoteStaticKey: fromHex(LOW_ORDER[1] as string),
      backend,
    });
    expect(() => i.writeMessage(EMPTY)).toThrow(NoiseInvalidKeyError);
  });

  it("reading or writing out of turn, or splitting early, is refused", () => {
    const { i, r } = pair(backend);
    expect(() => r.writeMessage(EMPTY)).toThrow(NoiseStateError);
    expect(() => i.readMessage(new Uint8Array(64))).toThrow(NoiseStateError);
    expect(() => i.split()).toThrow(NoiseStateError);
  });

  it("protocol names outside the supported set are refused", () => {
    for (const name of [
      "Noise_IK_448_ChaChaPoly_BLAKE2s",
      "Noise_XK_25519_ChaChaPoly_BLAKE2s",
      "Noise_IK_25519_AESGCM_SHA256",
      "noise_IK_25519_ChaChaPoly_BLAKE2s",
      "Noise_NNpsk3_25519_ChaChaPoly_SHA256",
    ]) {
      expect(() => new HandshakeState({ protocolName: name, initiator: true, backend })).toThrow(NoiseError);
    }
  });

  it("a CipherState without a key passes data through unchanged", () => {
    const cs = new CipherState(backend);
    expect(toHex(cs.encryptWithAd(EMPTY, Uint8Array.of(5)))).toBe("05");
  });
});
