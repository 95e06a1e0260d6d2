import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  aeadOpen,
  aeadSeal,
  CryptoArgumentError,
  constantTimeEqual,
  hkdfSha256,
  hmacSha256,
  legacyAesGcmOpen,
  randomBytes,
  wipe,
} from "../src/crypto.js";

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const utf8 = new TextEncoder();

describe("known answers: the primitives are the ones the RFCs name", () => {
  it("RFC 8439 §2.8.2: AEAD_CHACHA20_POLY1305 seals the sunscreen vector to its published bytes", () => {
    const key = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const nonce = h("070000004041424344454647");
    const aad = h("50515253c0c1c2c3c4c5c6c7");
    const pt = utf8.encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const expected = h(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
      3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
      92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691`);
    expect(aeadSeal(key, nonce, pt, aad)).toEqual(expected);
    expect(aeadOpen(key, nonce, expected, aad)).toEqual(pt);
  });

  it("RFC 5869 A.3: HKDF-SHA256 with an empty salt and info gives the published OKM", () => {
    const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), 42);
    expect(okm).toEqual(
      h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
    );
  });

  it("RFC 4231 test case 1: HMAC-SHA256 gives the published MAC", () => {
    expect(hmacSha256(new Uint8Array(20).fill(0x0b), utf8.encode("Hi There"))).toEqual(
      h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    );
  });
});

describe("AEAD opens only what it sealed, at the same AAD", () => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);

  it("any single bit flipped in ciphertext or tag makes open return null, never plaintext", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), (pt, at) => {
        const sealed = aeadSeal(key, nonce, pt, utf8.encode("aad"));
        const bad = new Uint8Array(sealed);
        const bit = at % (bad.length * 8);
        bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
        expect(aeadOpen(key, nonce, bad, utf8.encode("aad"))).toBeNull();
      }),
      { seed: 1301, numRuns: 200 },
    );
  });

  it("another AAD, another key, another nonce or a truncation returns null", () => {
    const sealed = aeadSeal(key, nonce, utf8.encode("secret"), utf8.encode("row-1"));
    expect(aeadOpen(key, nonce, sealed, utf8.encode("row-2"))).toBeNull();
    expect(aeadOpen(randomBytes(32), nonce, sealed, utf8.encode("row-1"))).toBeNull();
    expect(aeadOpen(key, randomBytes(12), sealed, utf8.encode("row-1"))).toBeNull();
    expect(aeadOpen(key, nonce, sealed.subarray(0, sealed.length - 1), utf8.encode("row-1"))).toBeNull();
    expect(aeadOpen(key, nonce, sealed.subarray(0, 15), utf8.encode("row-1"))).toBeNull();
  });

  it("legacy AES-256-GCM open refuses a flipped byte (the fixtures prove it opens bea118d's bytes)", () => {
    expect(legacyAesGcmOpen(key, nonce, new Uint8Array(20), new Uint8Array(0))).toBeNull();
    expect(legacyAesGcmOpen(key, nonce, new Uint8Array(3), new Uint8Array(0))).toBeNull();
  });

  it("wrong-sized keys and nonces are typed errors naming the argument", () => {
    expect(() => aeadSeal(new Uint8Array(31), nonce, new Uint8Array(0), new Uint8Array(0))).toThrow(
      /key must be 32 bytes/,
    );
    expect(() => aeadOpen(key, new Uint8Array(24), new Uint8Array(16), new Uint8Array(0))).toThrow(
      CryptoArgumentError,
    );
    expect(() => aeadSeal(key, nonce, "text" as unknown as Uint8Array, new Uint8Array(0))).toThrow(
      /plaintext must be a Uint8Array/,
    );
  });

  it("sealed output owns its bytes (never a view into Node's shared Buffer pool)", () => {
    const sealed = aeadSeal(key, nonce, utf8.encode("x"), new Uint8Array(0));
    expect(sealed.byteOffset).toBe(0);
    expect(sealed.buffer.byteLength).toBe(sealed.length);
    const opened = aeadOpen(key, nonce, sealed, new Uint8Array(0)) as Uint8Array;
    expect(opened.buffer.byteLength).toBe(1);
  });
});

describe("small helpers", () => {
  it("constantTimeEqual is true exactly for equal bytes, false for other lengths", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(constantTimeEqual(a, new Uint8Array(a))).toBe(true);
      }),
      { seed: 7, numRuns: 300 },
    );
    expect(() => constantTimeEqual("a" as unknown as Uint8Array, new Uint8Array(1))).toThrow(
      CryptoArgumentError,
    );
  });

  it("wipe zeroes every array it is given", () => {
    const a = Uint8Array.of(1, 2, 3);
    const b = Uint8Array.of(4);
    wipe(a, undefined, b);
    expect([...a, ...b]).toEqual([0, 0, 0, 0]);
  });

  it("randomBytes gives distinct fresh bytes and refuses absurd sizes", () => {
    expect(randomBytes(32)).not.toEqual(randomBytes(32));
    expect(() => randomBytes(-1)).toThrow(CryptoArgumentError);
    expect(() => randomBytes(1.5)).toThrow(CryptoArgumentError);
  });

  it("HKDF and HMAC refuse keys too short to be keys", () => {
    expect(() => hkdfSha256(new Uint8Array(8), new Uint8Array(0), 32)).toThrow(/at least 16/);
    expect(() => hmacSha256(new Uint8Array(8), new Uint8Array(0))).toThrow(/at least 16/);
    expect(() => hkdfSha256(new Uint8Array(32), new Uint8Array(0), 0)).toThrow(CryptoArgumentError);
  });
});
