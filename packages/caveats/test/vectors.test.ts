import {
  type Caveat,
  caveatSetFromJSON,
  caveatSetToJSON,
  decodeCaveatSet,
  dischargeTicket,
  encodeCaveatSet,
  Macaroon,
  packCaveat,
  parseAuthorizationHeader,
  stringifyJSON,
  UnregisteredCaveat,
} from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import { flyRegistry } from "../src/index.js";
import { b64, hex, loadVectors, toHex } from "./vectors.js";

interface Step {
  caveat_name: string;
  caveat_json: { type: string; body: unknown }[];
  packed_caveat_hex: string;
}
interface Fixed {
  chain: { key_hex: string; steps: Step[]; verified_caveats_json: unknown[]; token_msgpack_hex: string };
  third_party: {
    key_hex?: string;
    tp_key_hex: string;
    caveat3p_ticket_hex: string;
    tp_location: string;
    header: string;
    ticket_caveats_json: unknown[];
    verified_trusted_json: unknown[];
    verified_untrusted_json: unknown[];
    permission_token_hex: string;
    discharge_token_hex: string;
  };
}
interface Generated {
  caveats: Record<string, string>;
  macaroons: Record<string, string>;
}

const fixed = loadVectors<Fixed>("fixed_vectors.json");
const generated = ["test_vectors.json", "macfly_elixir_vectors.json"].map(
  (f) => [f, loadVectors<Generated>(f)] as const,
);

/** JSON as Go writes it: bigints as bare numbers, then parsed back for deep comparison. */
const asJSON = (cavs: readonly Caveat[]) => JSON.parse(stringifyJSON(caveatSetToJSON(cavs, flyRegistry)));

describe("fixed_vectors.json chain: every Fly caveat type", () => {
  for (const step of fixed.chain.steps) {
    describe(step.caveat_name, () => {
      const packed = hex(step.packed_caveat_hex);
      it("decodes to a registered caveat and re-encodes to the same bytes", () => {
        const [cav] = decodeCaveatSet(packed, flyRegistry);
        expect(cav).toBeDefined();
        expect(cav).not.toBeInstanceOf(UnregisteredCaveat);
        expect(toHex(packCaveat(cav as Caveat))).toBe(step.packed_caveat_hex);
      });
      it("is named in the registry as Go names it", () => {
        const [cav] = decodeCaveatSet(packed, flyRegistry);
        expect(flyRegistry.nameOf((cav as Caveat).type)).toBe(step.caveat_name);
      });
      it("renders Go's JSON form", () => {
        expect(asJSON(decodeCaveatSet(packed, flyRegistry))).toEqual(step.caveat_json);
      });
      it("parses Go's JSON form to the same msgpack bytes", () => {
        const cavs = caveatSetFromJSON(step.caveat_json, flyRegistry);
        expect(toHex(encodeCaveatSet(cavs))).toBe(step.packed_caveat_hex);
      });
    });
  }

  it("the verified caveat set of the chain (without its final bind) equals Go's JSON", () => {
    const token = Macaroon.decodeUnverified(hex(fixed.chain.token_msgpack_hex), { registry: flyRegistry });
    const withoutBind = Macaroon.mint({
      key: hex(fixed.chain.key_hex),
      kid: token.nonce.kid,
      location: token.location,
      registry: flyRegistry,
    });
    // Re-derive the chain's token minus the bind caveat from the known caveats; the verified set
    // must equal Go's (the README explains why the bind makes the full token unverifiable).
    const cavs = token.unsafeCaveats.slice(0, -1);
    expect(asJSON(cavs)).toEqual(fixed.chain.verified_caveats_json);
    withoutBind.add(...caveatSetFromJSON(fixed.chain.verified_caveats_json, flyRegistry));
    expect(asJSON(withoutBind.verify(hex(fixed.chain.key_hex)))).toEqual(fixed.chain.verified_caveats_json);
  });
});

describe("fixed_vectors.json third party: verified sets with Fly caveats", () => {
  const tp = fixed.third_party;
  const key = hex(fixed.chain.key_hex);
  const parse = () => {
    const toks = parseAuthorizationHeader(tp.header, { registry: flyRegistry });
    const macs = toks.flatMap((t) => (t.kind === "macaroon" ? [t.macaroon] : []));
    const perm = macs.find((m) => !m.isProof) as Macaroon;
    const discharges = macs.filter((m) => m.isProof);
    return { perm, discharges };
  };

  it("the ticket opens with the shared key and asks for Go's ticket caveats", () => {
    const { caveats } = dischargeTicket(hex(tp.tp_key_hex), tp.tp_location, hex(tp.caveat3p_ticket_hex), {
      registry: flyRegistry,
    });
    expect(asJSON(caveats)).toEqual(tp.ticket_caveats_json);
  });

  it("untrusted: Organization and the discharge's ValidityWindow, no attestation", () => {
    const { perm, discharges } = parse();
    expect(asJSON(perm.verify(key, { discharges }))).toEqual(tp.verified_untrusted_json);
  });

  it("trusted: the FlyioUserID attestation is included", () => {
    const { perm, discharges } = parse();
    const trusted3Ps = new Map([[tp.tp_location, [hex(tp.tp_key_hex)]]]);
    expect(asJSON(perm.verify(key, { discharges, trusted3Ps }))).toEqual(tp.verified_trusted_json);
  });
});

describe.each(generated)("%s: every caveat entry", (_name, vectors) => {
  for (const [name, b64set] of Object.entries(vectors.caveats)) {
    it(`${name} decodes and re-encodes byte-identically`, () => {
      const bytes = b64(b64set);
      const cavs = decodeCaveatSet(bytes, flyRegistry);
      expect(toHex(encodeCaveatSet(cavs))).toBe(toHex(bytes));
      const type = cavs[0]?.type ?? 0n;
      // Test-only types (≥ 1<<48) are not Fly's: they must stay raw and still round-trip.
      expect(cavs[0] instanceof UnregisteredCaveat).toBe(type >= 1n << 48n);
    });
  }
});
