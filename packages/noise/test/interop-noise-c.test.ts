/**
 * Live interop against rweather/noise-c compiled to wasm (@richardhopton/noise-c.wasm 0.5.0),
 * an independent implementation. Only the SHA256 suite is compiled into it.
 */
import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../src/bytes.js";
import { HandshakeState, NoiseError } from "../src/index.js";
import { backends } from "./helpers.js";

interface NcCipher {
  EncryptWithAd(ad: Uint8Array, pt: Uint8Array): Uint8Array;
  DecryptWithAd(ad: Uint8Array, ct: Uint8Array): Uint8Array;
  free(): void;
}
interface NcHandshake {
  Initialize(
    prologue: Uint8Array | null,
    s: Uint8Array | null,
    rs: Uint8Array | null,
    psk: Uint8Array | null,
  ): void;
  WriteMessage(payload: Uint8Array | null): Uint8Array;
  ReadMessage(message: Uint8Array, payloadNeeded: boolean): Uint8Array;
  GetHandshakeHash(): Uint8Array;
  GetRemotePublicKey(): Uint8Array | null;
  Split(): [NcCipher, NcCipher];
  free(): void;
}
interface NoiseC {
  constants: Record<string, number>;
  HandshakeState(name: string, role: number): NcHandshake;
}

const require = createRequire(import.meta.url);
let nc: NoiseC;

beforeAll(async () => {
  const create = require("@richardhopton/noise-c.wasm") as (cb: (lib: NoiseC) => void) => void;
  nc = await new Promise<NoiseC>((resolve) => create(resolve));
});

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const EMPTY = new Uint8Array(0);

describe.each(backends)("interop with noise-c.wasm (%s backend)", (_name, backend) => {
  describe.each(["IK", "KK"])("Noise_%s_25519_ChaChaPoly_SHA256", (pattern) => {
    const name = `Noise_${pattern}_25519_ChaChaPoly_SHA256`;
    const kk = pattern === "KK";
    const prologue = enc("tkdb-noise/1 interop");

    it("our initiator talks to a noise-c responder: payloads, handshake hash, transport", () => {
      const server = backend.generateKeyPair();
      const client = backend.generateKeyPair();
      const ours = new HandshakeState({
        protocolName: name,
        initiator: true,
        prologue,
        staticKeyPair: client,
        remoteStaticKey: server.publicKey,
        backend,
      });
      const theirs = nc.HandshakeState(name, nc.constants.NOISE_ROLE_RESPONDER as number);
      theirs.Initialize(prologue, server.secretKey, kk ? client.publicKey : null, null);
      expect(dec(theirs.ReadMessage(ours.writeMessage(enc("request")), true))).toBe("request");
      expect(toHex(theirs.GetRemotePublicKey() as Uint8Array)).toBe(toHex(client.publicKey));
      expect(dec(ours.readMessage(theirs.WriteMessage(enc("response"))))).toBe("response");
      expect(toHex(ours.getHandshakeHash())).toBe(toHex(theirs.GetHandshakeHash()));
      const [tSend, tRecv] = theirs.Split();
      const { send, receive } = ours.split();
      for (let n = 0; n < 3; n++) {
        expect(dec(tRecv.DecryptWithAd(EMPTY, send.encryptWithAd(EMPTY, enc(`ping ${n}`))))).toBe(
          `ping ${n}`,
        );
        expect(dec(receive.decryptWithAd(EMPTY, tSend.EncryptWithAd(EMPTY, enc(`pong ${n}`))))).toBe(
          `pong ${n}`,
        );
      }
      tSend.free();
      tRecv.free();
    });

    it("a noise-c initiator talks to our responder: payloads, handshake hash, transport", () => {
      const server = backend.generateKeyPair();
      const client = backend.generateKeyPair();
      const theirs = nc.HandshakeState(name, nc.constants.NOISE_ROLE_INITIATOR as number);
      theirs.Initialize(prologue, client.secretKey, server.publicKey, null);
      const ours = new HandshakeState({
        protocolName: name,
        initiator: false,
        prologue,
        staticKeyPair: server,
        remoteStaticKey: kk ? client.publicKey : undefined,
        backend,
      });
      expect(dec(ours.readMessage(theirs.WriteMessage(enc("request"))))).toBe("request");
      expect(toHex(ours.getRemoteStaticKey() as Uint8Array)).toBe(toHex(client.publicKey));
      expect(dec(theirs.ReadMessage(ours.writeMessage(enc("response")), true))).toBe("response");
      expect(toHex(ours.getHandshakeHash())).toBe(toHex(theirs.GetHandshakeHash()));
      const [tSend, tRecv] = theirs.Split();
      const { send, receive } = ours.split();
      for (let n = 0; n < 3; n++) {
        expect(dec(receive.decryptWithAd(EMPTY, tSend.EncryptWithAd(EMPTY, enc(`ping ${n}`))))).toBe(
          `ping ${n}`,
        );
        expect(dec(tRecv.DecryptWithAd(EMPTY, send.encryptWithAd(EMPTY, enc(`pong ${n}`))))).toBe(
          `pong ${n}`,
        );
      }
      tSend.free();
      tRecv.free();
    });

    it("a prologue mismatch with noise-c fails message 1 on our side", () => {
      const server = backend.generateKeyPair();
      const client = backend.generateKeyPair();
      const theirs = nc.HandshakeState(name, nc.constants.NOISE_ROLE_INITIATOR as number);
      theirs.Initialize(enc("other"), client.secretKey, server.publicKey, null);
      const ours = new HandshakeState({
        protocolName: name,
        initiator: false,
        prologue,
        staticKeyPair: server,
        remoteStaticKey: kk ? client.publicKey : undefined,
        backend,
      });
      const m1 = theirs.WriteMessage(enc("x"));
      theirs.free();
      expect(() => ours.readMessage(m1)).toThrow(NoiseError);
    });
  });
});
