import { describe, expect, it, vi } from "vitest";
import { toHex } from "../src/bytes.js";
import { getNative, HandshakeState, type NoiseCrypto, noble } from "../src/index.js";
import { UNSAFE_TEST_ONLY_injectEphemeralKeys } from "../src/unsafe-testing.js";

const native = getNative() as NoiseCrypto;
const EMPTY = new Uint8Array(0);

function transcript(backend: NoiseCrypto, name: string, keys: Record<string, Uint8Array>): string[] {
  const kk = name.includes("_KK");
  const client = { secretKey: keys.cs as Uint8Array, publicKey: backend.publicKeyOf(keys.cs as Uint8Array) };
  const server = { secretKey: keys.ss as Uint8Array, publicKey: backend.publicKeyOf(keys.ss as Uint8Array) };
  const i = new HandshakeState({
    protocolName: name,
    initiator: true,
    prologue: keys.p,
    staticKeyPair: client,
    remoteStaticKey: server.publicKey,
    backend,
  });
  const r = new HandshakeState({
    protocolName: name,
    initiator: false,
    prologue: keys.p,
    staticKeyPair: server,
    remoteStaticKey: kk ? client.publicKey : undefined,
    backend,
  });
  UNSAFE_TEST_ONLY_injectEphemeralKeys(i, [keys.ie as Uint8Array]);
  UNSAFE_TEST_ONLY_injectEphemeralKeys(r, [keys.re as Uint8Array]);
  const m1 = i.writeMessage(keys.payload);
  r.readMessage(m1);
  const m2 = r.writeMessage(keys.payload);
  i.readMessage(m2);
  const a = i.split();
  const b = r.split();
  const t1 = a.send.encryptWithAd(EMPTY, keys.payload as Uint8Array);
  const t2 = b.send.encryptWithAd(keys.p as Uint8Array, keys.payload as Uint8Array);
  return [m1, m2, i.getHandshakeHash(), t1, t2].map(toHex);
}

describe("native and noble backends", () => {
  it.each([
    "Noise_IK_25519_ChaChaPoly_BLAKE2s",
    "Noise_KK_25519_ChaChaPoly_BLAKE2s",
    "Noise_IK_25519_ChaChaPoly_SHA256",
    "Noise_KK_25519_ChaChaPoly_SHA256",
  ])("produce identical bytes for %s with injected ephemerals", (name) => {
    for (let round = 0; round < 3; round++) {
      const keys: Record<string, Uint8Array> = {
        cs: noble.randomBytes(32),
        ss: noble.randomBytes(32),
        ie: noble.randomBytes(32),
        re: noble.randomBytes(32),
        p: noble.randomBytes(round * 17),
        payload: noble.randomBytes(round * 300),
      };
      expect(transcript(native, name, keys)).toEqual(transcript(noble, name, keys));
    }
  });

  it("agree on every primitive for random inputs", () => {
    for (let n = 0; n < 20; n++) {
      const key = noble.randomBytes(32);
      const data = noble.randomBytes(n * 37);
      const ad = noble.randomBytes(n);
      const nonce = BigInt(n) * 0x1_0000_0001n;
      expect(toHex(native.encrypt(key, nonce, ad, data))).toBe(toHex(noble.encrypt(key, nonce, ad, data)));
      for (const alg of ["BLAKE2s", "SHA256"] as const) {
        expect(toHex(native.hash(alg, data, ad))).toBe(toHex(noble.hash(alg, data, ad)));
        expect(toHex(native.hmac(alg, key, data, ad))).toBe(toHex(noble.hmac(alg, key, data, ad)));
      }
      const a = noble.randomBytes(32);
      const b = native.generateKeyPair();
      expect(toHex(native.publicKeyOf(a))).toBe(toHex(noble.publicKeyOf(a)));
      expect(toHex(native.dh(a, b.publicKey))).toBe(toHex(noble.dh(a, b.publicKey)));
      expect(toHex(noble.publicKeyOf(b.secretKey))).toBe(toHex(b.publicKey));
    }
  });

  it("the native KeyObject cache notices a secret key array mutated in place", () => {
    const sk = noble.randomBytes(32);
    const peer = noble.generateKeyPair().publicKey;
    const first = toHex(native.dh(sk, peer));
    sk[0] = (sk[0] as number) ^ 0x40;
    expect(toHex(native.dh(sk, peer))).toBe(toHex(noble.dh(sk, peer)));
    expect(toHex(native.dh(sk, peer))).not.toBe(first);
  });
});

describe("without node:crypto", () => {
  it("the module loads, has no native backend, and defaults to noble", async () => {
    const proc = process as { getBuiltinModule?: unknown };
    const original = proc.getBuiltinModule;
    proc.getBuiltinModule = () => undefined;
    try {
      vi.resetModules();
      const m = await import("../src/crypto.js");
      expect(m.getNative()).toBeUndefined();
      expect(m.resolveBackend().name).toBe("noble");
      expect(() => m.resolveBackend("native")).toThrow(/node:crypto/);
    } finally {
      proc.getBuiltinModule = original;
      vi.resetModules();
    }
  });
});
