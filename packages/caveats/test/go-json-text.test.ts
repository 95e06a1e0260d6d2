/**
 * caveatSetToGoJSON / Macaroon.toGoJSON write the bytes Go's `json.Marshal` writes for a caveat
 * set (superfly/macaroon caveat_set.go `CaveatSet.MarshalJSON`: `[{"type","body"}]`, bodies from
 * `json.Marshal(caveat)`). Expected strings are written out by hand from Go's rules:
 * encoding/json sorts map keys as strings, keeps struct fields in declaration order, writes
 * uint64 as number literals, []byte as base64, and (json.Marshal) escapes < > & and U+2028/U+2029.
 * The fixed vectors' JSON (made by Go's encoder at 8578343) is compared byte for byte too.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  BindToParentToken,
  type Caveat,
  Caveat3P,
  CaveatError,
  caveatSetToGoJSON,
  caveatSetToJSON,
  decodeCaveatSet,
  Macaroon,
  type MsgpackWriter,
  UnregisteredCaveat,
  ValidityWindow,
} from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import {
  apps,
  Commands,
  ConfineGoogleHD,
  FeatureSet,
  FromMachine,
  flyRegistry,
  GoogleUserID,
  IsUser,
  ifPresent,
  Mutations,
  Organization,
  organization,
  ResourceSet,
  Volumes,
} from "../src/index.js";
import { hex } from "./vectors.js";

const U64_MAX = (1n << 64n) - 1n;
const go = (cavs: readonly Caveat[]) => caveatSetToGoJSON(cavs, flyRegistry);

describe("map keys are sorted as strings, like encoding/json (not JS's integer-keys-first order)", () => {
  it("the issue's Apps example: {20:rw, 300:r, 1<<40:c} is written 1099511627776, 20, 300", () => {
    const c = apps([
      [20, "rw"],
      [300, "r"],
      [1n << 40n, "c"],
    ]);
    expect(go([c])).toBe('[{"type":"Apps","body":{"apps":{"1099511627776":"c","20":"rw","300":"r"}}}]');
  });
  it('"10" sorts before "9"', () => {
    expect(go([apps({ 9: "r", 10: "r" })])).toBe('[{"type":"Apps","body":{"apps":{"10":"r","9":"r"}}}]');
  });
  it("string keys sort by UTF-8 bytes: upper case, lower case, then non-ASCII", () => {
    const v = new Volumes.Class(ResourceSet.of("string", { b: 1, "\u00e9": 1, a: 1, Z: 1 }));
    expect(go([v])).toBe('[{"type":"Volumes","body":{"volumes":{"Z":"r","a":"r","b":"r","\u00e9":"r"}}}]');
  });
  it("RPC payloads keep their JSON: caveatSetToJSON + JSON.stringify is unchanged (JS order)", () => {
    expect(JSON.stringify(caveatSetToJSON([apps({ 9: "r", 10: "r" })], flyRegistry))).toBe(
      '[{"type":"Apps","body":{"apps":{"9":"r","10":"r"}}}]',
    );
  });
});

describe("integers beyond 2^53 are exact number literals", () => {
  it("MaxUint64 as an Organization ID, an Apps key and an IsUser ID", () => {
    expect(go([organization(U64_MAX, "rwcdC")])).toBe(
      '[{"type":"Organization","body":{"id":18446744073709551615,"mask":"rwcdC"}}]',
    );
    expect(
      go([
        apps([
          [U64_MAX, "r"],
          [2, "w"],
        ]),
      ]),
    ).toBe('[{"type":"Apps","body":{"apps":{"18446744073709551615":"r","2":"w"}}}]');
    expect(go([new IsUser(U64_MAX)])).toBe('[{"type":"IsUser","body":{"uint64":18446744073709551615}}]');
  });
  it("a Google user ID (big.Int, MarshalJSON writes its decimal digits)", () => {
    expect(go([new GoogleUserID(1n << 70n)])).toBe('[{"type":"GoogleUserID","body":1180591620717411303424}]');
  });
  it("negative int64 in a ValidityWindow", () => {
    expect(go([new ValidityWindow(-5n, 1700000000n)])).toBe(
      '[{"type":"ValidityWindow","body":{"not_before":-5,"not_after":1700000000}}]',
    );
  });
});

describe("strings are escaped like json.Marshal (HTML-safe)", () => {
  it("< > & become \\u003c \\u003e \\u0026", () => {
    expect(go([new FromMachine("<m&1>")])).toBe(
      '[{"type":"FromMachineSource","body":{"id":"\\u003cm\\u00261\\u003e"}}]',
    );
  });
  it("U+2028 and U+2029 are escaped; other non-ASCII is written as is", () => {
    expect(go([new ConfineGoogleHD("a\u2028b\u2029\u00e9")])).toBe(
      '[{"type":"ConfineGoogleHD","body":"a\\u2028b\\u2029\u00e9"}]',
    );
  });
  it('control characters: \\b \\f \\n \\r \\t short, the rest \\u00XX lower-case; " and \\ escaped; DEL as is', () => {
    expect(go([new ConfineGoogleHD('\b\f\n\r\t\u0001\u001f"\\\u007f')])).toBe(
      '[{"type":"ConfineGoogleHD","body":"\\b\\f\\n\\r\\t\\u0001\\u001f\\"\\\\\u007f"}]',
    );
  });
});

describe("structs keep Go's field order, nils are null, bytes are base64", () => {
  it("the issue's set: Organization then IfPresent{ifs:[Mutations], else}", () => {
    const cavs = [new Organization(1234n, 0x1f), ifPresent([new Mutations(["createApp"])], "r")];
    expect(go(cavs)).toBe(
      '[{"type":"Organization","body":{"id":1234,"mask":"rwcdC"}},' +
        '{"type":"IfPresent","body":{"ifs":[{"type":"Mutations","body":{"mutations":["createApp"]}}],"else":"r"}}]',
    );
  });
  it("an empty set is [], nil slices and a nil IfPresent set are null, exact is omitted when false", () => {
    expect(go([])).toBe("[]");
    expect(go([new Mutations(null), ifPresent(null, "")])).toBe(
      '[{"type":"Mutations","body":{"mutations":null}},{"type":"IfPresent","body":{"ifs":null,"else":""}}]',
    );
    expect(
      go([
        new Commands([
          { args: null, exact: false },
          { args: ["ls"], exact: true },
        ]),
      ]),
    ).toBe('[{"type":"Commands","body":[{"args":null},{"args":["ls"],"exact":true}]}]');
  });
  it("3P has Go's untagged field names and base64 bytes; BindToParentToken is a base64 string", () => {
    const c = new Caveat3P("https://tp", new Uint8Array([1, 2, 3]), new Uint8Array([0xfb, 0xff]));
    expect(go([c, new BindToParentToken(hex("deadbeef"))])).toBe(
      '[{"type":"3P","body":{"Location":"https://tp","VerifierKey":"AQID","Ticket":"+/8="}},' +
        '{"type":"BindToParentToken","body":"3q2+7w=="}]',
    );
  });
  it("an IfPresent's inner resource set is sorted too", () => {
    const ip = ifPresent([new FeatureSet.Class(ResourceSet.of("string", { wg: 0x1f, builder: 1 }))], "r");
    expect(go([ip])).toBe(
      '[{"type":"IfPresent","body":{"ifs":[{"type":"FeatureSet","body":{"features":{"builder":"r","wg":"rwcdC"}}}],"else":"r"}}]',
    );
  });
});

describe("type names follow Go's caveatTypeToString", () => {
  const USER = (1n << 48n) + 7n;
  class Tagged implements Caveat {
    readonly type = USER;
    constructor(readonly tag: string) {}
    encodeBody(w: MsgpackWriter): void {
      w.str(this.tag);
    }
    prohibits() {
      return undefined;
    }
    bodyJSON(): unknown {
      return this.tag;
    }
  }
  const reg = flyRegistry.extend({
    type: USER,
    name: "Tagged",
    decodeBody: (r) => new Tagged(r.str()),
    fromJSON: (b) => new Tagged(String(b)),
  });
  it("a registered user-defined type (>= 1<<48) is named by its decimal number", () => {
    expect(caveatSetToGoJSON([new Tagged("x")], reg)).toBe('[{"type":"281474976710663","body":"x"}]');
  });
  it("an unregistered caveat is refused with a typed error rather than guessed", () => {
    const e = (() => {
      try {
        go([new UnregisteredCaveat(1n << 50n, new Uint8Array([1]))]);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(CaveatError);
    expect((e as CaveatError).code).toBe("unregistered_caveat");
  });
});

describe("Macaroon.toGoJSON is Go's json.Marshal(macaroon): location and caveats only", () => {
  it("writes {location, caveats} with the same rules, and no nonce or tail", () => {
    const m = Macaroon.mint({
      key: new Uint8Array(32),
      kid: new Uint8Array([1]),
      location: "https://a&b",
      caveats: [apps({ 9: "r", 10: "w" })],
      registry: flyRegistry,
    });
    expect(m.toGoJSON()).toBe(
      '{"location":"https://a\\u0026b","caveats":[{"type":"Apps","body":{"apps":{"10":"w","9":"r"}}}]}',
    );
  });
});

// ---- the fixed vectors' JSON, which Go's encoder wrote -----------------------------------------

const raw = readFileSync(
  fileURLToPath(new URL("../../../../shared/vectors/macaroon/fixed_vectors.json", import.meta.url)),
  "utf8",
);

/** The raw text of every JSON value following `"key":`, in file order (no JSON.parse reordering). */
function rawValues(text: string, key: string): string[] {
  const out: string[] = [];
  const needle = `"${key}":`;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    let i = at + needle.length;
    while (/\s/.test(text[i] as string)) i++;
    const start = i;
    let depth = 0;
    let inStr = false;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (inStr) {
        if (ch === "\\") i++;
        else if (ch === '"') inStr = false;
      } else if (ch === '"') inStr = true;
      else if (ch === "[" || ch === "{") depth++;
      else if (ch === "]" || ch === "}") {
        depth--;
        if (depth === 0) break;
      }
    }
    out.push(text.slice(start, i + 1));
  }
  return out;
}

/** Drop whitespace outside strings: json.MarshalIndent's output back to json.Marshal's. */
function compact(text: string): string {
  let out = "";
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (inStr) {
      out += ch;
      if (ch === "\\") out += text[++i];
      else if (ch === '"') inStr = false;
    } else if (ch === '"') {
      inStr = true;
      out += ch;
    } else if (!/\s/.test(ch)) out += ch;
  }
  return out;
}

describe("fixed vectors: our Go JSON equals the text Go wrote, for all 19 chain steps", () => {
  const v = JSON.parse(raw) as { chain: { steps: { caveat_name: string; packed_caveat_hex: string }[] } };
  const texts = rawValues(raw, "caveat_json");
  it("has one raw caveat_json per step", () => {
    expect(texts).toHaveLength(v.chain.steps.length);
  });
  v.chain.steps.forEach((step, i) => {
    it(`${step.caveat_name}: caveatSetToGoJSON(decode(packed)) === Go's JSON`, () => {
      const cavs = decodeCaveatSet(hex(step.packed_caveat_hex), flyRegistry);
      expect(go(cavs)).toBe(compact(texts[i] as string));
    });
  });
});
