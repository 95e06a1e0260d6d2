import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concatBytes, fromBase64Url, toBase64Url, toHex } from "../src/bytes.js";
import { decodeFrames, encodeFrame } from "../src/framing.js";
import {
  createNoiseHandler,
  decodeResponse,
  encodeRequest,
  HandshakeState,
  type NoiseCrypto,
} from "../src/index.js";
import { backends } from "./helpers.js";

const EMPTY = new Uint8Array(0);
const names = ["IK", "KK", "NN", "XX"].flatMap((p) =>
  ["BLAKE2s", "SHA256"].map((h) => `Noise_${p}_25519_ChaChaPoly_${h}`),
);

describe("encodings (property)", () => {
  it("base64url round-trips any bytes", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        (b) => toHex(fromBase64Url(toBase64Url(b)) as Uint8Array) === toHex(b),
      ),
    );
  });

  it("frames round-trip any list of messages", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (msgs) => {
        const back = decodeFrames(concatBytes(...msgs.map(encodeFrame)));
        expect(back?.map(toHex)).toEqual(msgs.map(toHex));
      }),
    );
  });
});

describe.each(backends)("handshakes and HTTP handler (property, %s)", (name, backend: NoiseCrypto) => {
  const runs = name === "native" ? 40 : 12;

  it("any pattern, prologue and payloads complete a handshake and a transport exchange", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.uint8Array({ maxLength: 2000 }),
        (protocolName, prologue, p1, p2) => {
          const si = backend.generateKeyPair();
          const sr = backend.generateKeyPair();
          const kk = protocolName.includes("_KK_");
          const ik = protocolName.includes("_IK_");
          const usesS = kk || ik || protocolName.includes("_XX_");
          const i = new HandshakeState({
            protocolName,
            initiator: true,
            prologue,
            staticKeyPair: usesS ? si : undefined,
            remoteStaticKey: kk || ik ? sr.publicKey : undefined,
            backend,
          });
          const r = new HandshakeState({
            protocolName,
            initiator: false,
            prologue,
            staticKeyPair: usesS ? sr : undefined,
            remoteStaticKey: kk ? si.publicKey : undefined,
            backend,
          });
          let from = i;
          let to = r;
          let turn = 0;
          while (!i.isComplete) {
            const payload = turn % 2 === 0 ? p1 : p2;
            expect(toHex(to.readMessage(from.writeMessage(payload)))).toBe(toHex(payload));
            [from, to] = [to, from];
            turn++;
          }
          expect(r.isComplete).toBe(true);
          expect(toHex(i.getHandshakeHash())).toBe(toHex(r.getHandshakeHash()));
          const a = i.split();
          const b = r.split();
          expect(toHex(b.receive.decryptWithAd(EMPTY, a.send.encryptWithAd(EMPTY, p2)))).toBe(toHex(p2));
          expect(toHex(a.receive.decryptWithAd(EMPTY, b.send.encryptWithAd(EMPTY, p1)))).toBe(toHex(p1));
        },
      ),
      { numRuns: runs },
    );
  });

  const server = backend.generateKeyPair();
  const handler = createNoiseHandler({
    api: "verify",
    pattern: "IK",
    staticKeyPair: server,
    ops: { echo: async (ctx) => ctx.args, big: async (ctx) => "y".repeat(Number(ctx.args.n)) },
    backend,
  });
  const post = (path: string, headers: Record<string, string>, body: Uint8Array) =>
    handler(new Request(`http://h${path}`, { method: "POST", headers, body }));

  it("any mutation or truncation of message 1 gets the bare 400", async () => {
    const req = encodeRequest({
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: server.publicKey,
      args: { a: 1 },
      backend,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.nat({ max: req.body.length - 1 }).map((len) => req.body.slice(0, len)),
          fc
            .array(fc.tuple(fc.nat({ max: req.body.length - 1 }), fc.integer({ min: 1, max: 255 })), {
              minLength: 1,
              maxLength: 4,
            })
            .map((edits) => {
              const b = Uint8Array.from(req.body);
              for (const [pos] of edits) b[pos] = 0;
              for (const [pos, x] of edits) b[pos] = (req.body[pos] as number) ^ x;
              return b;
            }),
          fc.uint8Array({ maxLength: 400 }),
        ),
        async (body) => {
          fc.pre(toHex(body) !== toHex(req.body));
          const res = await post(req.path, req.headers, body);
          expect([res.status, (await res.arrayBuffer()).byteLength]).toEqual([400, 0]);
        },
      ),
      { numRuns: runs * 2 },
    );
  });

  it("responses of any length split into msg2 + transport frames at the limits and reassemble", async () => {
    // {"v":1,"rid":"<22 chars>","ok":true,"result":"<n>"} is n + 60 bytes of plaintext.
    const expectedFrames = (n: number) => 1 + Math.ceil(Math.max(0, n + 60 - 65487) / 65519);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 300_000 }), async (n) => {
        const req = encodeRequest({
          api: "verify",
          op: "big",
          pattern: "IK",
          serverPublicKey: server.publicKey,
          args: { n },
          backend,
        });
        const res = await post(req.path, req.headers, req.body);
        const body = new Uint8Array(await res.arrayBuffer());
        expect(decodeFrames(body)?.length).toBe(expectedFrames(n));
        expect(
          decodeResponse(req, { status: res.status, contentType: res.headers.get("content-type"), body }),
        ).toBe("y".repeat(n));
      }),
      { numRuns: Math.ceil(runs / 3), examples: [[65427], [65428], [65427 + 65519], [65428 + 65519]] },
    );
  });
});
