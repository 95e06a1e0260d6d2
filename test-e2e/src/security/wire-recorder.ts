/**
 * The passive attacker of the forward-secrecy tests: it keeps every request's path, headers and
 * body, and later, holding a server's static private key, tries to read each recorded body as a
 * Noise message 1 (responder side; IK, or KK when the request named its client key).
 */
import {
  buildPrologue,
  HandshakeState,
  type KeyPair,
  keyId,
  NOISE_IK,
  NOISE_KK,
  resolveBackend,
} from "@tkdb/noise";

const backend = resolveBackend("native");

export interface Recorded {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A fetch that records each request before sending it, and the list it records into. */
export function wireRecorder(): { recorded: Recorded[]; fetch: typeof fetch } {
  const recorded: Recorded[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    recorded.push({
      path: new URL(String(input)).pathname,
      headers,
      body: new Uint8Array(init?.body as Uint8Array),
    });
    return fetch(input, init);
  };
  return { recorded, fetch: recordingFetch };
}

/** The payload of a recorded body read as message 1 with the server's static key alone, or null. */
export function openWithStaticKey(r: Recorded, serverStatic: KeyPair): string | null {
  const kk = r.headers["noise-client-key"];
  const hs = new HandshakeState({
    protocolName: kk ? NOISE_KK : NOISE_IK,
    initiator: false,
    prologue: buildPrologue(r.path, keyId(serverStatic.publicKey, backend), kk ?? ""),
    staticKeyPair: serverStatic,
    ...(kk ? { remoteStaticKey: new Uint8Array(Buffer.from(kk, "base64url")) } : {}),
    backend,
  });
  try {
    return Buffer.from(hs.readMessage(r.body)).toString("utf8");
  } catch {
    return null;
  }
}
