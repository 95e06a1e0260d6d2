import { describe, expect, it } from "vitest";
import { toHex } from "../src/bytes.js";
import { HandshakeState, type NoiseCrypto, parseProtocolName } from "../src/index.js";
import { UNSAFE_TEST_ONLY_injectEphemeralKeys } from "../src/unsafe-testing.js";
import { backends, hex, loadVectors, VECTOR_FILES, type Vector } from "./helpers.js";

function protocolName(v: Vector): string {
  const name = v.protocol_name ?? v.name;
  if (name === undefined) throw new Error("vector without a protocol name");
  return name;
}

/** Replay one vector with our implementation in `role`; the peer is played by the published bytes. */
function replay(v: Vector, initiator: boolean, backend: NoiseCrypto): { checked: number } {
  const pre = initiator ? "init" : "resp";
  const staticHex = v[`${pre}_static`];
  const remoteHex = v[`${pre}_remote_static`];
  const hs = new HandshakeState({
    protocolName: protocolName(v),
    initiator,
    prologue: hex(v[`${pre}_prologue`]),
    staticKeyPair:
      staticHex === undefined
        ? undefined
        : { secretKey: hex(staticHex), publicKey: backend.publicKeyOf(hex(staticHex)) },
    remoteStaticKey: remoteHex === undefined ? undefined : hex(remoteHex),
    psks: (v[`${pre}_psks`] ?? []).map(hex),
    backend,
  });
  const eph = v[`${pre}_ephemeral`];
  if (eph !== undefined) UNSAFE_TEST_ONLY_injectEphemeralKeys(hs, [hex(eph)]);

  let checked = 0;
  const handshakeLen = hs.protocol.handshake.messages.length;
  let i = 0;
  for (; i < handshakeLen; i++) {
    const m = v.messages[i];
    if (m === undefined) throw new Error("vector ends inside the handshake");
    const weSend = (i % 2 === 0) === initiator;
    if (weSend) expect(toHex(hs.writeMessage(hex(m.payload)))).toBe(m.ciphertext);
    else expect(toHex(hs.readMessage(hex(m.ciphertext)))).toBe(m.payload);
    checked++;
  }
  expect(hs.isComplete).toBe(true);
  if (v.handshake_hash !== undefined) {
    expect(toHex(hs.getHandshakeHash())).toBe(v.handshake_hash);
    checked++;
  }
  // The learned (or pre-known) remote static is the peer's real static public key.
  const peerStatic = v[initiator ? "resp_static" : "init_static"];
  if (peerStatic !== undefined && hs.getRemoteStaticKey() !== null) {
    expect(toHex(hs.getRemoteStaticKey() as Uint8Array)).toBe(toHex(backend.publicKeyOf(hex(peerStatic))));
    checked++;
  }
  const { send, receive } = hs.split();
  // Transport messages keep alternating from where the handshake stopped (vectors README).
  for (; i < v.messages.length; i++) {
    const m = v.messages[i] as { payload: string; ciphertext: string };
    const weSend = (i % 2 === 0) === initiator;
    if (weSend) expect(toHex(send.encryptWithAd(new Uint8Array(0), hex(m.payload)))).toBe(m.ciphertext);
    else expect(toHex(receive.decryptWithAd(new Uint8Array(0), hex(m.ciphertext)))).toBe(m.payload);
    checked++;
  }
  return { checked };
}

describe.each(backends)("known-answer vectors (%s backend)", (_name, backend) => {
  describe.each(VECTOR_FILES)("%s", (file) => {
    const vectors = loadVectors(file);
    it("holds entries for every pattern family", () => {
      expect(vectors.length).toBeGreaterThan(0);
    });
    it("each entry's descriptive fields (noise-c: pattern, dh, cipher, hash) agree with its protocol name", () => {
      for (const v of vectors) {
        const parts = v as unknown as Record<string, unknown>;
        if (parts.pattern === undefined) continue;
        const p = parseProtocolName(protocolName(v));
        const base = p.pattern + p.psks.map((n) => `psk${n}`).join("");
        expect([parts.pattern, parts.dh, parts.cipher, parts.hash]).toEqual([
          base,
          "25519",
          "ChaChaPoly",
          p.hash,
        ]);
      }
    });
    it.each(vectors.map((v, idx) => [`${idx} ${protocolName(v)}`, v] as const))(
      "%s: initiator and responder reproduce every ciphertext, payload, hash and transport message",
      (_label, v) => {
        const a = replay(v, true, backend);
        const b = replay(v, false, backend);
        expect(a.checked).toBe(b.checked);
        expect(a.checked).toBeGreaterThanOrEqual(v.messages.length);
      },
    );
  });
});
