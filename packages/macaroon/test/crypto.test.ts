import { describe, expect, it, vi } from "vitest";
import { availableBackends, nativeBackend, nobleBackend } from "../src/crypto.js";
import { hexDecode, hexEncode } from "../src/encoding.js";
import { CryptoError } from "../src/errors.js";
import { backends } from "./helpers.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

describe.each(backends)("crypto primitives, %s backend", (_name, b) => {
  it("HMAC-SHA256 matches RFC 4231 test case 2", () => {
    expect(hexEncode(b.hmacSha256(utf8("Jefe"), utf8("what do ya want for nothing?")))).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });

  it("SHA-256 and SHA-1 match FIPS 180 'abc' vectors", () => {
    expect(hexEncode(b.sha256(utf8("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(hexEncode(b.sha1(utf8("abc")))).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
  });

  it("seal is nonce12 ‖ ciphertext ‖ tag16 and unseals with the same key", () => {
    const key = b.randomBytes(32);
    const box = b.seal(key, utf8("hello"));
    expect(box.length).toBe(12 + 5 + 16);
    expect(b.unseal(key, box)).toEqual(utf8("hello"));
    expect(b.unseal(key, b.seal(key, new Uint8Array(0)))).toEqual(new Uint8Array(0));
  });

  it("unseal refuses short boxes, tampering, wrong keys and wrong key sizes", () => {
    const key = b.randomBytes(32);
    const box = b.seal(key, utf8("secret"));
    expect(() => b.unseal(key, new Uint8Array(12))).toThrow(CryptoError);
    expect(() => b.unseal(key, box.subarray(0, 27))).toThrow(CryptoError);
    for (let i = 0; i < box.length; i++) {
      const t = box.slice();
      t[i] = (t[i] as number) ^ 0x80;
      expect(() => b.unseal(key, t)).toThrow(expect.objectContaining({ code: "unseal_failed" }));
    }
    expect(() => b.unseal(b.randomBytes(32), box)).toThrow(CryptoError);
    expect(() => b.seal(new Uint8Array(16), utf8("x"))).toThrow(expect.objectContaining({ code: "bad_key" }));
    expect(() => b.unseal(new Uint8Array(31), box)).toThrow(expect.objectContaining({ code: "bad_key" }));
  });

  it("timingSafeEqual compares bytes and lengths", () => {
    expect(b.timingSafeEqual(hexDecode("0102"), hexDecode("0102"))).toBe(true);
    expect(b.timingSafeEqual(hexDecode("0102"), hexDecode("0103"))).toBe(false);
    expect(b.timingSafeEqual(hexDecode("0102"), hexDecode("010200"))).toBe(false);
  });

  it("randomBytes gives the requested length and differs between calls", () => {
    expect(b.randomBytes(16)).toHaveLength(16);
    expect(hexEncode(b.randomBytes(32))).not.toBe(hexEncode(b.randomBytes(32)));
  });
});

describe("backends agree", () => {
  it("native is available on Node and listed first", () => {
    expect(nativeBackend).toBeDefined();
    expect(availableBackends[0]?.name).toBe("native");
  });

  it("a box sealed by either backend opens with the other; MACs and hashes are identical", () => {
    if (!nativeBackend) return;
    for (let n = 0; n < 70; n += 7) {
      const key = nobleBackend.randomBytes(32);
      const msg = nobleBackend.randomBytes(n);
      expect(nativeBackend.unseal(key, nobleBackend.seal(key, msg))).toEqual(msg);
      expect(nobleBackend.unseal(key, nativeBackend.seal(key, msg))).toEqual(msg);
      expect(nativeBackend.hmacSha256(key, msg)).toEqual(nobleBackend.hmacSha256(key, msg));
      expect(nativeBackend.sha256(msg)).toEqual(nobleBackend.sha256(msg));
    }
  });
});

describe("runtimes without node:crypto", () => {
  it("the module loads, has no native backend, and defaults to noble", async () => {
    const original = process.getBuiltinModule;
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    try {
      vi.resetModules();
      const fresh = await import("../src/crypto.js");
      expect(fresh.nativeBackend).toBeUndefined();
      expect(fresh.defaultBackend.name).toBe("noble");
      expect(fresh.availableBackends.map((b) => b.name)).toEqual(["noble"]);
      const key = fresh.defaultBackend.randomBytes(32);
      expect(fresh.defaultBackend.unseal(key, fresh.defaultBackend.seal(key, utf8("x")))).toEqual(utf8("x"));
    } finally {
      process.getBuiltinModule = original;
      vi.resetModules();
    }
  });
});
