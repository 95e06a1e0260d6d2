import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../src/canonical.js";
import { parseLine, sealLine, type Unsealed } from "../src/chain.js";
import { sha256Hex } from "../src/crypto.js";
import { parseEventInput } from "../src/event.js";

const base = {
  v: 1,
  seq: 7,
  ts: "2026-12-02T17:00:00.000Z",
  node: "n1",
  kind: "event",
  op: "resolve",
  actor: "system",
  outcome: "ok",
  prev: "0".repeat(64),
};

describe("sealLine (one serialisation per line, issue 17)", () => {
  it("writes exactly canonicalJson of the line and hashes exactly canonicalJson of it without the hash", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            org: fc.string(),
            names: fc.array(fc.string(), { minLength: 1 }),
            version: fc.nat(),
            open_intents: fc.array(fc.nat()),
            reconciled: fc.boolean(),
            subject: fc.string({ unit: "binary" }),
            nested: fc.jsonValue({ maxDepth: 2 }),
          },
          { requiredKeys: [] },
        ),
        (extra) => {
          const unsealed = { ...base, ...extra } as unknown as Unsealed;
          const { line, text } = sealLine(unsealed);
          expect(line.hash).toBe(sha256Hex(canonicalJson(unsealed)));
          expect(text).toBe(canonicalJson(line));
        },
      ),
      { seed: 17, numRuns: 60 },
    );
  });

  it("a sealed writer line reads back as itself (canonical, hash verifies)", () => {
    const { text } = sealLine({ ...base, names: ["B", "A_1"], version: 3 } as unknown as Unsealed);
    const parsed = parseLine(text);
    expect(parsed.ok).toBe(true);
  });
});

describe("parseEventInput's memo of accepted values (issue 17)", () => {
  it("still refuses material in a field after the same field accepted other values many times", () => {
    for (let i = 0; i < 5000; i++)
      parseEventInput({ kind: "event", op: "x", actor: "system", outcome: "ok", subject: `app-${i}` });
    const key = "a".repeat(16) + "0123456789abcdef0123456789abcdef";
    expect(() =>
      parseEventInput({ kind: "event", op: "x", actor: "system", outcome: "ok", subject: key }),
    ).toThrow(/material|format/);
    // and an accepted value stays accepted after the memo was cleared
    expect(() =>
      parseEventInput({ kind: "event", op: "x", actor: "system", outcome: "ok", subject: "app-1" }),
    ).not.toThrow();
  });
});
