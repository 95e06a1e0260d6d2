import { describe, expect, it } from "vitest";
import {
  backends,
  constantTimeEqual,
  DIGEST_LEN,
  formatDigest,
  PetsemCrypto,
  parseKey32,
  valueAad,
} from "../src/crypto.js";
import { isPetsemError } from "../src/errors.js";
import { BACKENDS, newKek } from "./helpers.js";

const enc = new TextEncoder();

describe("primitives cross-check", () => {
  it("HMAC-SHA256 matches RFC 4231 test case 2 on both backends", () => {
    for (const name of BACKENDS) {
      const mac = backends[name].hmacSha256(enc.encode("Jefe"), enc.encode("what do ya want for nothing?"));
      expect(Buffer.from(mac).toString("hex")).toBe(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      );
    }
  });

  it("SHA-256 matches FIPS 180-4 'abc' on both backends", () => {
    for (const name of BACKENDS) {
      expect(Buffer.from(backends[name].sha256(enc.encode("abc"))).toString("hex")).toBe(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      );
    }
  });

  it("AES-256-GCM: what one backend seals the other opens, byte-identical for the same nonce", () => {
    const key = newKek();
    const nonce = backends.native.randomBytes(12);
    const aad = enc.encode("aad");
    for (const len of [0, 1, 15, 16, 17, 1000]) {
      const pt = backends.native.randomBytes(len);
      const a = backends.native.aesGcmSeal(key, nonce, pt, aad);
      const b = backends.noble.aesGcmSeal(key, nonce, pt, aad);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(backends.noble.aesGcmOpen(key, nonce, a, aad)).toEqual(pt);
      expect(backends.native.aesGcmOpen(key, nonce, b, aad)).toEqual(pt);
    }
  });

  it("constantTimeEqual is byte equality", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false);
  });

  it("parseKey32 accepts 64 hex or 43 base64url characters and nothing else", () => {
    const k = newKek();
    expect(parseKey32(Buffer.from(k).toString("hex"))).toEqual(k);
    expect(parseKey32(Buffer.from(k).toString("base64url"))).toEqual(k);
    expect(parseKey32("00")).toBeNull();
    expect(parseKey32(`${Buffer.from(k).toString("hex")}00`)).toBeNull();
  });
});

describe.each(BACKENDS)("PetsemCrypto (%s)", (backend) => {
  const c = new PetsemCrypto(backends[backend]);
  const other = new PetsemCrypto(backends[backend === "native" ? "noble" : "native"]);
  const dek = newKek();
  const aad = valueAad("1", "2", "DATABASE_URL", 3);

  it("sealed values open with the same key and AAD, on either backend", () => {
    const pt = enc.encode("postgres://user:pw@host/db");
    const sealed = c.sealValue(dek, 1, aad, pt);
    expect(c.openValue(dek, 1, aad, sealed)).toEqual(pt);
    expect(other.openValue(dek, 1, aad, sealed)).toEqual(pt);
  });

  it("P2: changing any single byte (format, key id, nonce, ciphertext, tag) makes opening fail with integrity", () => {
    const sealed = c.sealValue(dek, 1, aad, enc.encode("hunter2-secret"));
    for (let i = 0; i < sealed.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = sealed.slice();
        bad[i] = (bad[i] as number) ^ flip;
        let err: unknown;
        try {
          c.openValue(dek, 1, aad, bad);
        } catch (e) {
          err = e;
        }
        expect(isPetsemError(err, "integrity"), `byte ${i}`).toBe(true);
      }
    }
    for (const cut of [0, 1, 5, 17, sealed.length - 1]) {
      expect(() => c.openValue(dek, 1, aad, sealed.subarray(0, cut))).toThrow(/failed authentication/);
    }
  });

  it("P3: a ciphertext opened under another org, app, name or version fails", () => {
    const sealed = c.sealValue(dek, 1, aad, enc.encode("v"));
    for (const moved of [
      valueAad("9", "2", "DATABASE_URL", 3),
      valueAad("1", "9", "DATABASE_URL", 3),
      valueAad("1", "2", "OTHER", 3),
      valueAad("1", "2", "DATABASE_URL", 4),
    ]) {
      expect(() => c.openValue(dek, 1, moved, sealed)).toThrow(/failed authentication/);
    }
  });

  it("P4: nonces never repeat and the same value seals to different ciphertexts", () => {
    const n = backend === "native" ? 100_000 : 20_000;
    const seen = new Set<string>();
    const pt = enc.encode("same");
    for (let i = 0; i < n; i++) {
      const s = c.sealValue(dek, 1, aad, pt);
      seen.add(Buffer.from(s.subarray(5, 17)).toString("hex"));
    }
    expect(seen.size).toBe(n);
    const a = c.sealValue(dek, 1, aad, pt);
    const b = c.sealValue(dek, 1, aad, pt);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it("wrapped keys open only with the same KEK and purpose", () => {
    const kek = newKek();
    const key = newKek();
    const p = { kind: "dek", org: "1", app: "2", kid: 1 } as const;
    const w = c.wrapKey(kek, key, p);
    expect(other.unwrapKey(kek, w, p)).toEqual(key);
    expect(() => c.unwrapKey(newKek(), w, p)).toThrow(/failed authentication/);
    expect(() => c.unwrapKey(kek, w, { ...p, app: "3" })).toThrow(/failed authentication/);
    expect(() => c.unwrapKey(kek, w, { kind: "server-key" })).toThrow();
    for (let i = 0; i < w.length; i++) {
      const bad = w.slice();
      bad[i] = (bad[i] as number) ^ 1;
      expect(() => c.unwrapKey(kek, bad, p)).toThrow(/failed authentication/);
    }
  });

  it("a digest is 16 random bytes, labelled, and takes no value: nothing to compare a guess with", () => {
    // newDigest() has no parameter: a digest cannot depend on a value by construction.
    expect(c.newDigest.length).toBe(0);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const d = i % 2 === 0 ? c.newDigest() : other.newDigest();
      expect(d.length).toBe(DIGEST_LEN);
      expect(formatDigest(d)).toMatch(/^rand128:[0-9a-f]{32}$/);
      seen.add(formatDigest(d));
    }
    expect(seen.size).toBe(1000);
  });
});
