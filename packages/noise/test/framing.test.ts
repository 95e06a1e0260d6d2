import { describe, expect, it } from "vitest";
import { fromBase64Url, toBase64Url, toHex } from "../src/bytes.js";
import { decodeFrames, encodeFrame } from "../src/framing.js";
import {
  buildPrologue,
  createNoiseHandler,
  decodeResponse,
  encodeRequest,
  keyId,
  NoiseArgumentError,
  type NoiseCrypto,
  NoiseMessageTooLargeError,
  NoiseRemoteError,
  NoiseStateError,
  noisePath,
} from "../src/index.js";
import { backends } from "./helpers.js";

describe("framing constants and encodings", () => {
  it("the prologue is the u16be-length-prefixed concatenation of the five fields", () => {
    const p = buildPrologue("/noise/v1/verify/verify", "0123456789abcdef", "");
    const expected =
      "000c" +
      toHex(new TextEncoder().encode("tkdb-noise/1")) +
      "0004" +
      toHex(new TextEncoder().encode("POST")) +
      "0017" +
      toHex(new TextEncoder().encode("/noise/v1/verify/verify")) +
      "0010" +
      toHex(new TextEncoder().encode("0123456789abcdef")) +
      "0000";
    expect(toHex(p)).toBe(expected);
  });

  it("paths are /noise/v1/<api>/<op> and other apis or odd ops are refused", () => {
    expect(noisePath("sign", "mint")).toBe("/noise/v1/sign/mint");
    expect(() => noisePath("admin" as "sign", "x")).toThrow(NoiseArgumentError);
    expect(() => noisePath("verify", "../x")).toThrow(NoiseArgumentError);
    expect(() => noisePath("verify", "")).toThrow(NoiseArgumentError);
  });

  it.each(backends)("keyId is hex(BLAKE2s(public key))[0:16] (%s)", (_n, backend) => {
    expect(keyId(new Uint8Array(32), backend)).toBe("320b5ea99e653bc2");
    expect(
      keyId(
        Uint8Array.from({ length: 32 }, (_, i) => i),
        backend,
      ),
    ).toBe("05825607d7fdf2d8");
    expect(() => keyId(new Uint8Array(31), backend)).toThrow(NoiseArgumentError);
  });

  it("frames round-trip and a body that is not whole frames is refused", () => {
    const a = encodeFrame(Uint8Array.of(1, 2, 3));
    const b = encodeFrame(new Uint8Array(300));
    const body = new Uint8Array([...a, ...b]);
    expect(decodeFrames(body)?.map((f) => f.length)).toEqual([3, 300]);
    expect(decodeFrames(body.subarray(0, body.length - 1))).toBeNull();
    expect(decodeFrames(Uint8Array.of(0))).toBeNull();
    expect(decodeFrames(new Uint8Array(0))).toEqual([]);
  });

  it("base64url is unpadded and strict", () => {
    for (let n = 0; n < 40; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 255);
      const s = toBase64Url(b);
      expect(s).not.toMatch(/[=+/]/);
      expect(toHex(fromBase64Url(s) as Uint8Array)).toBe(toHex(b));
    }
    expect(fromBase64Url("AB")).toBeNull(); // non-zero trailing bits
    expect(fromBase64Url("A")).toBeNull();
    expect(fromBase64Url("AA==")).toBeNull();
    expect(fromBase64Url("a+b/")).toBeNull();
  });
});

describe.each(backends)(
  "encodeRequest / decodeResponse with an in-process handler (%s)",
  (_n, backend: NoiseCrypto) => {
    const server = backend.generateKeyPair();
    const client = backend.generateKeyPair();
    let clock = 1_700_000_000_000;
    const handler = createNoiseHandler({
      api: "sign",
      pattern: "KK",
      staticKeyPair: server,
      allowedClientKeys: (k) => toHex(k) === toHex(client.publicKey),
      ops: { mint: async (ctx) => ({ rid: ctx.rid, ts: ctx.ts }) },
      now: () => clock,
      replayWindowMs: 1000,
      replayCacheSize: 2,
      backend,
    });
    const call = async (rid?: string) => {
      const req = encodeRequest({
        api: "sign",
        op: "mint",
        pattern: "KK",
        serverPublicKey: server.publicKey,
        clientStaticKey: client,
        backend,
        now: () => clock,
        ...(rid ? { rid } : {}),
      });
      const res = await handler(
        new Request(`http://x${req.path}`, { method: "POST", headers: req.headers, body: req.body }),
      );
      const body = new Uint8Array(await res.arrayBuffer());
      return () =>
        decodeResponse(req, { status: res.status, contentType: res.headers.get("content-type"), body });
    };

    it("a fixed rid reaches the op unchanged (idempotent retries)", async () => {
      const rid = toBase64Url(new Uint8Array(16).fill(7));
      expect((await call(rid))()).toEqual({ rid, ts: clock });
    });

    it("a full replay cache answers unavailable instead of forgetting, and frees up after 2x the window", async () => {
      clock += 10_000; // everything earlier has expired
      expect((await call())()).toMatchObject({ ts: clock });
      expect((await call())()).toMatchObject({ ts: clock });
      const third = await call();
      let err: unknown;
      try {
        third();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NoiseRemoteError);
      expect(err).toMatchObject({ code: "unavailable" });
      clock += 2001;
      expect((await call())()).toMatchObject({ ts: clock });
    });

    it("decodeResponse is single use", async () => {
      clock += 10_000;
      const decode = await call();
      decode();
      expect(decode).toThrow(NoiseStateError);
    });

    it("a request over one Noise message is refused before sending", () => {
      expect(() =>
        encodeRequest({
          api: "verify",
          op: "x",
          pattern: "IK",
          serverPublicKey: server.publicKey,
          backend,
          args: { big: "a".repeat(70_000) },
        }),
      ).toThrow(NoiseMessageTooLargeError);
    });

    it("bad client options are refused with NoiseArgumentError", () => {
      const base = { api: "sign", op: "mint", serverPublicKey: server.publicKey, backend } as const;
      expect(() => encodeRequest({ ...base, pattern: "KK" })).toThrow(NoiseArgumentError);
      expect(() => encodeRequest({ ...base, pattern: "IK", rid: "short" })).toThrow(NoiseArgumentError);
      expect(() => encodeRequest({ ...base, pattern: "IK", traceparent: "nope" })).toThrow(
        NoiseArgumentError,
      );
      expect(() => encodeRequest({ ...base, pattern: "XX" as "IK" })).toThrow(NoiseArgumentError);
      expect(() => encodeRequest({ ...base, pattern: "IK", args: { n: 1n } })).toThrow(NoiseArgumentError);
    });

    it("bad handler options are refused when the handler is built", () => {
      const ops = {};
      expect(() =>
        createNoiseHandler({ api: "sign", pattern: "KK", staticKeyPair: server, ops, backend }),
      ).toThrow(NoiseArgumentError);
      expect(() =>
        createNoiseHandler({
          api: "verify",
          pattern: "IK",
          staticKeyPair: { publicKey: client.publicKey, secretKey: server.secretKey },
          ops,
          backend,
        }),
      ).toThrow(NoiseArgumentError);
      expect(() =>
        createNoiseHandler({
          api: "verify",
          pattern: "IK",
          staticKeyPair: server,
          allowedClientKeys: [],
          ops,
          backend,
        }),
      ).toThrow(NoiseArgumentError);
      expect(() =>
        createNoiseHandler({
          api: "verify",
          pattern: "IK",
          staticKeyPair: server,
          ops: { "bad/op": async () => 1 },
          backend,
        }),
      ).toThrow(NoiseArgumentError);
    });
  },
);
