/**
 * Security issue 12 item 6: every state a write can accept resolves. The count and size limits
 * are chosen so that the largest possible `resolve` response fits what petsem sends and what a
 * client accepts; checked here on the real store at the limits, and end to end in
 * test-e2e/src/security/every-accepted-state-resolves.test.ts.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { base64Length, LIMITS, MAX_RESPONSE_BYTES, resolveResponseBound } from "../src/validate.js";
import { APP, freshStore, ORG } from "./helpers.js";

/** @tkdb/noise's default cap on a response body (client side), and its framing overhead. */
const CLIENT_MAX_BODY = 16 * 1024 * 1024;
const framedSize = (plain: number) => plain + 2 + 48 + Math.ceil(plain / 65519) * (2 + 16);

describe("limits", () => {
  it("the worst-case resolve fits the server's response cap, and the cap fits the client's", () => {
    expect(resolveResponseBound()).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
    expect(framedSize(MAX_RESPONSE_BYTES)).toBeLessThan(CLIENT_MAX_BODY);
    expect(base64Length(0)).toBe(0);
    expect(base64Length(1)).toBe(4);
    expect(base64Length(3)).toBe(4);
    expect(base64Length(4)).toBe(8);
  });

  it("a full app at the size limit (255-char names, worst-case bytes) resolves within the bound", () => {
    const { store } = freshStore("native");
    // bytes that JSON would escape 6× (control characters) and multi-byte UTF-8, to the byte limit
    const value = (i: number) => {
      const head = `\u0001\u001f"\\${String.fromCodePoint(0x1f600)}é${i}`;
      return head + "\u0000".repeat(LIMITS.maxValueBytes - Buffer.byteLength(head));
    };
    const names = Array.from(
      { length: LIMITS.maxSecretsPerApp },
      (_, i) => `N${String(i).padStart(3, "0")}${"x".repeat(251)}`,
    );
    for (let i = 0; i < names.length; i += 32) {
      store.set({
        org: ORG,
        app: APP,
        values: Object.fromEntries(names.slice(i, i + 32).map((n, j) => [n, value(i + j)])),
      });
    }
    const r = store.resolve({ org: ORG, app: APP, minVersion: 0 });
    expect(r.secrets.length).toBe(LIMITS.maxSecretsPerApp);
    for (const s of r.secrets) expect(Buffer.byteLength(s.value)).toBe(LIMITS.maxValueBytes);
    // the wire shape petsem sends (rpc.ts), inside the HTTP/Noise response envelope
    const wire = {
      v: 1,
      rid: randomBytes(16).toString("base64url"),
      ok: true,
      result: {
        app_version: Number.MAX_SAFE_INTEGER,
        secrets: r.secrets.map((s) => ({
          name: s.name,
          version: Number.MAX_SAFE_INTEGER,
          value_b64: Buffer.from(s.value).toString("base64"),
        })),
        missing: [],
      },
    };
    const size = Buffer.byteLength(JSON.stringify(wire));
    expect(size).toBeLessThanOrEqual(resolveResponseBound());
    // the same values as JSON strings would not have fitted
    expect(Buffer.byteLength(JSON.stringify(r))).toBeGreaterThan(MAX_RESPONSE_BYTES);
  });
});
