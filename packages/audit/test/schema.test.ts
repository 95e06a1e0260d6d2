/**
 * The event schema keeps material out of the log: only typed identity fields, and text that looks
 * like a token or a key is refused in every one of them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AUDIT_FIELDS,
  type AuditEventInput,
  cliActor,
  isAuditError,
  looksLikeMaterial,
  MAX_NONCES,
  noiseActor,
  nonceRef,
  parseEventInput,
  tokenRef,
} from "../src/index.js";
import { flyNonce, flyTokenText, randomKey } from "./fixtures/helpers.js";

const actor = noiseActor(randomKey());
const mintIntent: AuditEventInput = {
  kind: "intent",
  op: "mint",
  actor,
  org: "org-1",
  rid: "AAAAAAAAAAAAAAAAAAAAAA",
};

function refused(x: unknown): boolean {
  try {
    parseEventInput(x);
    return false;
  } catch (e) {
    if (!isAuditError(e, "invalid_request")) throw e;
    return true;
  }
}

/** Every caller field that holds text, with a valid value for it. */
const TEXT_FIELDS = [
  "subject",
  "org",
  "app",
  "rid",
  "user",
  "code",
  "op",
  "kid",
  "nonce",
  "parent_nonce",
  "tail_sha256_prefix",
  "location",
  "actor",
] as const;

const keyEncodings = (k: Uint8Array) => [
  Buffer.from(k).toString("base64"),
  Buffer.from(k).toString("base64url"),
  Buffer.from(k).toString("hex"),
  Buffer.from(k).toString("hex").toUpperCase(),
];

describe("event schema", () => {
  it("accepts the events both apps write (tkdb mint, petsem resolve, verify refusals)", () => {
    const ref = tokenRef(flyNonce(), randomKey());
    expect(parseEventInput(mintIntent)).toEqual(mintIntent);
    parseEventInput({
      kind: "outcome",
      op: "mint",
      actor,
      intent_seq: 7,
      outcome: "ok",
      org: "org-1",
      ...ref,
    });
    parseEventInput({
      kind: "intent",
      op: "resolve",
      actor,
      org: "o",
      app: "web",
      names: ["DATABASE_URL", "API_KEY"],
      user: "12345",
      version: 3,
    });
    parseEventInput({
      kind: "event",
      op: "verify",
      actor: "anonymous",
      outcome: "refused",
      code: "revoked",
      ...ref,
    });
    parseEventInput({
      kind: "event",
      op: "discharge",
      actor,
      outcome: "ok",
      location: "https://api.fly.io/aaa/v1",
      nonce: nonceRef(flyNonce(true)),
    });
    parseEventInput({
      kind: "outcome",
      op: "org_create",
      actor: cliActor("root"),
      intent_seq: 1,
      outcome: "ok",
      kid: "AAECAwQFBgcICQoLDA0ODw==",
    });
  });

  it("refuses fields outside the list: no place for a token, a header, a value or a free-form detail", () => {
    for (const field of [
      "token",
      "header",
      "discharge",
      "value",
      "key",
      "details",
      "detail",
      "args",
      "input",
      "message",
    ])
      expect(refused({ ...mintIntent, [field]: "x" }), field).toBe(true);
  });

  it("refuses the fields the log itself writes (seq, hash, prev, ts, node, reconciled, checkpoint fields)", () => {
    for (const [field, v] of Object.entries({
      seq: 1,
      hash: "0".repeat(64),
      prev: "0".repeat(64),
      ts: "2025-01-01T00:00:00.000Z",
      node: "n",
      v: 1,
      reconciled: true,
      head_seq: 1,
      open_intents: [],
      kind: "checkpoint",
    }))
      expect(refused({ ...mintIntent, [field]: v }), field).toBe(true);
  });

  it("refuses a Fly token passed by mistake in any text field", () => {
    for (const f of TEXT_FIELDS) {
      expect(refused({ ...mintIntent, [f]: flyTokenText() }), f).toBe(true);
      expect(refused({ ...mintIntent, [f]: flyTokenText().slice(6, 200) }), `${f} bare`).toBe(true);
    }
    expect(refused({ ...mintIntent, names: [flyTokenText().slice(6, 200)] })).toBe(true);
  });

  it("refuses a 32-byte key passed by mistake in any field, in base64, base64url or hex, or as bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 64 }), (key) => {
        for (const f of TEXT_FIELDS) {
          for (const text of keyEncodings(key))
            expect(refused({ ...mintIntent, [f]: text }), `${f}=${text.length}`).toBe(true);
          expect(refused({ ...mintIntent, [f]: key }), `${f} bytes`).toBe(true);
        }
        for (const text of keyEncodings(key)) expect(refused({ ...mintIntent, names: [text] })).toBe(true);
        expect(refused({ ...mintIntent, names: [key] })).toBe(true);
      }),
      { seed: 1414, numRuns: 200 },
    );
  });

  it("refuses low-entropy and structured keys too (all zeros, a repeated byte)", () => {
    for (const key of [new Uint8Array(32), new Uint8Array(32).fill(0xff), new Uint8Array(48).fill(0x41)])
      for (const f of TEXT_FIELDS)
        for (const text of keyEncodings(key))
          expect(refused({ ...mintIntent, [f]: text }), `${f}=${text}`).toBe(true);
  });

  it("refuses a key hidden inside otherwise plausible text", () => {
    const k = Buffer.from(randomKey()).toString("base64url");
    for (const t of [`org-${k}`, `user:${k}`, `cli:${k}`])
      expect(looksLikeMaterial(t) || refused({ ...mintIntent, subject: t })).toBe(true);
    expect(refused({ ...mintIntent, actor: `cli:${Buffer.from(randomKey()).toString("hex")}` })).toBe(true);
  });

  it("does not flag ordinary identities: org slugs, uuids, rids, UPPER_SNAKE secret names", () => {
    for (const s of [
      "personal",
      "org-1234",
      "my-app-production-eu-west-1-canary-deployment-blue",
      "968fc2c6-a94f-4988-a544-2ad72b02f222",
      "AAAAAAAAAAAAAAAAAAAAAA",
      "DATABASE_URL_FOR_THE_PRIMARY_REPLICA_IN_REGION_IAD_2",
    ])
      expect(looksLikeMaterial(s), s).toBe(false);
  });

  it("requires an actor of a known form: a bare key is not an actor", () => {
    expect(refused({ ...mintIntent, actor: Buffer.from(randomKey()).toString("base64url") })).toBe(true);
    expect(refused({ ...mintIntent, actor: "mallory" })).toBe(true);
    expect(() => noiseActor(new Uint8Array(31))).toThrow();
  });

  it("requires outcomes to name their intent and refusals to carry a code", () => {
    expect(refused({ kind: "outcome", op: "mint", actor, outcome: "ok" })).toBe(true);
    expect(refused({ kind: "event", op: "verify", actor, outcome: "refused" })).toBe(true);
    expect(refused({ kind: "intent", op: "mint", actor, outcome: "ok" })).toBe(true);
    expect(refused({ kind: "event", op: "verify", actor, outcome: "ok", code: "x" })).toBe(true);
    expect(refused({ ...mintIntent, kind: "counter" })).toBe(true);
  });
});

describe("nonces and required_until (tkdb revoke: what a re-apply after a restore needs)", () => {
  const revokeOutcome = (nonces: unknown, required_until?: unknown) => ({
    kind: "outcome",
    op: "revoke",
    actor,
    intent_seq: 3,
    outcome: "ok",
    nonces,
    ...(required_until === undefined ? {} : { required_until }),
  });

  it("accepts a list of Fly nonces (public ids) with one required_until per nonce", () => {
    const nonces = [flyNonce(), flyNonce(), nonceRef(flyNonce(true))];
    const e = parseEventInput(revokeOutcome(nonces, [1_900_000_000, 0, 5]));
    expect(e.nonces).toEqual(nonces);
    expect(e.required_until).toEqual([1_900_000_000, 0, 5]);
    expect(AUDIT_FIELDS.nonces).toBe("keyword");
    expect(AUDIT_FIELDS.required_until).toBe("long");
  });

  it("refuses a key, a token or free text among the nonces", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 64 }), (key) => {
        for (const text of keyEncodings(key))
          expect(refused(revokeOutcome([flyNonce(), text], [0, 0])), text).toBe(true);
        expect(refused(revokeOutcome([flyNonce(), key], [0, 0]))).toBe(true);
      }),
      { seed: 1415, numRuns: 100 },
    );
    for (const bad of [flyTokenText(), flyTokenText().slice(6, 200), "revoked", "", flyNonce(false, 300)])
      expect(refused(revokeOutcome([bad], [0])), bad.slice(0, 20)).toBe(true);
    expect(refused(revokeOutcome(flyNonce(), [0]))).toBe(true);
    expect(refused(revokeOutcome([], []))).toBe(true);
  });

  it("refuses required_until that is not one non-negative integer per nonce", () => {
    const two = [flyNonce(), flyNonce()];
    for (const bad of [
      [1],
      [1, 2, 3],
      [1, -1],
      [1, 1.5],
      ["1", 2],
      [1, Buffer.from(randomKey()).toString("hex")],
      7,
    ])
      expect(refused(revokeOutcome(two, bad)), JSON.stringify(bad)).toBe(true);
    expect(refused({ ...mintIntent, required_until: [1] })).toBe(true);
  });

  it("bounds the list: at most MAX_NONCES nonces on one line", () => {
    const n = flyNonce();
    expect(refused(revokeOutcome(Array(MAX_NONCES + 1).fill(n)))).toBe(true);
  });
});

describe("tokenRef", () => {
  it("names a token by its nonce and the first 16 bytes of SHA-256 of its tail", () => {
    const nonce = flyNonce();
    const tail = new Uint8Array(32).fill(7);
    const ref = tokenRef(nonce, tail);
    expect(ref.nonce).toBe(nonce);
    expect(ref.tail_sha256_prefix).toMatch(/^[0-9a-f]{32}$/);
    expect(ref.tail_sha256_prefix).not.toContain(Buffer.from(tail).toString("hex").slice(0, 8));
  });

  it("hashes a discharge's nonce (its kid is the sealed third-party ticket) and a long kid", () => {
    expect(nonceRef(flyNonce(true))).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(nonceRef(flyNonce(false, 300))).toMatch(/^sha256:[0-9a-f]{64}$/);
    const plain = flyNonce(false, 300);
    expect(refused({ ...mintIntent, nonce: plain })).toBe(true);
  });

  it("refuses a key or a token where a nonce belongs, and a tail that is not 32 bytes", () => {
    for (const bad of [Buffer.from(randomKey()).toString("base64"), flyTokenText(), "", "AAAA"])
      expect(() => nonceRef(bad)).toThrow();
    expect(() => tokenRef(flyNonce(), new Uint8Array(16))).toThrow();
  });
});
