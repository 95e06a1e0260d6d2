import { describe, expect, it } from "vitest";
import {
  CAV_BIND_TO_PARENT,
  CAV_VALIDITY_WINDOW,
  caveatSetToJSON,
  coreRegistry,
  decodeCaveatSet,
  encodeCaveatSet,
  packCaveat,
  UnregisteredCaveat,
  ValidityWindow,
} from "../src/caveat.js";
import { base64Decode, hexDecode, hexEncode } from "../src/encoding.js";
import { VerificationError } from "../src/errors.js";
import {
  encodeAuthorizationHeader,
  findPermissionAndDischargeTokens,
  parseAuthorizationHeader,
} from "../src/header.js";
import { dischargeTicket, Macaroon } from "../src/macaroon.js";
import { MsgpackReader, MsgpackWriter } from "../src/msgpack.js";
import type { Nonce } from "../src/nonce.js";
import { backends, testRegistry } from "./helpers.js";
import { fixed, generatorFiles } from "./vectors.js";

/** Fly type numbers of the names used in the vectors (reference §5). */
const FLY_TYPES: Record<string, bigint> = {
  Organization: 0n,
  Volumes: 2n,
  Apps: 3n,
  ValidityWindow: 4n,
  FeatureSet: 5n,
  Mutations: 6n,
  Machines: 7n,
  ConfineUser: 8n,
  ConfineOrganization: 9n,
  IsUser: 10n,
  "3P": 11n,
  BindToParentToken: 12n,
  IfPresent: 13n,
  MachineFeatureSet: 14n,
  FromMachineSource: 15n,
  Clusters: 16n,
  ConfineGoogleHD: 19n,
  ConfineGitHubOrg: 20n,
  IsMember: 22n,
  FlyioUserID: 23n,
  GitHubUserID: 24n,
  GoogleUserID: 25n,
  Action: 26n,
  Commands: 27n,
  AppFeatureSet: 28n,
  StorageObjects: 29n,
  AllowedRoles: 30n,
  FlySrc: 31n,
};
const ATTESTATIONS = new Set(["FlyioUserID", "GitHubUserID", "GoogleUserID"]);

function onlyToken(header: string): Macaroon {
  const toks = parseAuthorizationHeader(header, { registry: testRegistry });
  expect(toks).toHaveLength(1);
  const t = toks[0];
  if (t?.kind !== "macaroon") throw new Error("not a macaroon");
  return t.macaroon;
}

describe.each(backends)("shared vectors, %s backend", (_name, backend) => {
  describe.each(generatorFiles)("%s", (_file, v) => {
    const key = base64Decode(v.key);
    const kid = base64Decode(v.kid);
    const tpKey = base64Decode(v.tp_key);

    it("every header decodes and re-encodes to the identical header", () => {
      for (const header of Object.values(v.macaroons)) {
        const toks = parseAuthorizationHeader(header);
        expect(
          encodeAuthorizationHeader(toks.map((t) => (t.kind === "macaroon" ? t.macaroon : new Uint8Array()))),
        ).toBe(header);
      }
    });

    it("every permission token's tail is HMAC(HMAC(key, nonce), caveats[name]) and verifies, except bind (refused)", () => {
      for (const [name, header] of Object.entries(v.macaroons)) {
        if (ATTESTATIONS.has(name)) continue;
        const m = onlyToken(header);
        expect(m.location).toBe(v.location);
        expect(m.nonce.kid).toEqual(kid);
        const packed = base64Decode(v.caveats[name] as string);
        expect(packCaveat(m.unsafeCaveats[0] as UnregisteredCaveat)).toEqual(packed);
        const w = backend.hmacSha256(key, encodeNonceOf(m.nonce));
        expect(m.unsafeTail()).toEqual(backend.hmacSha256(w, packed));
        if (name === "BindToParentToken") {
          expect(() => m.verify(key, { backend })).toThrow(
            expect.objectContaining({ code: "bound_to_other_parent" }),
          );
        } else {
          const got = m.verify(key, { backend });
          expect(got).toHaveLength(1);
          expect(packCaveat(got[0] as UnregisteredCaveat)).toEqual(packed);
        }
      }
    });

    it("attestation tokens are proofs that decode and re-encode byte-exact", () => {
      for (const name of ATTESTATIONS) {
        const m = onlyToken(v.macaroons[name] as string);
        expect(m.isProof).toBe(true);
        expect(m.unsafeCaveats.map((c) => c.type)).toEqual([FLY_TYPES[name]]);
        expect(m.unsafeCaveats[0]?.isAttestation === true).toBe(name === "FlyioUserID");
      }
    });

    it("every caveats[name] entry decodes as a one-caveat set and re-encodes identically", () => {
      for (const [name, b64] of Object.entries(v.caveats)) {
        const bytes = base64Decode(b64);
        const cavs = decodeCaveatSet(bytes, coreRegistry);
        expect(cavs).toHaveLength(1);
        expect(encodeCaveatSet(cavs)).toEqual(bytes);
        const t = FLY_TYPES[name];
        if (t !== undefined) expect(cavs[0]?.type).toBe(t);
        else expect((cavs[0]?.type ?? 0n) >= 1n << 48n).toBe(true);
      }
      expect(decodeCaveatSet(base64Decode(v.caveats.bigUint64Caveat as string))[0]).toBeInstanceOf(
        UnregisteredCaveat,
      );
      const bind = decodeCaveatSet(base64Decode(v.caveats.BindToParentToken as string));
      expect(caveatSetToJSON(bind)).toEqual([{ type: "BindToParentToken", body: "AQID" }]);
    });

    it("each attenuation gives exactly the expected header; the empty entry (refused attestations) leaves the token unchanged", () => {
      for (const [baseHeader, entries] of Object.entries(v.attenuation)) {
        for (const [b64, expected] of Object.entries(entries)) {
          const toks = parseAuthorizationHeader(baseHeader, { registry: testRegistry, backend });
          const ms = toks.map((t) => {
            if (t.kind !== "macaroon") throw new Error("bad base");
            return t.macaroon;
          });
          const { permissionTokens } = findPermissionAndDischargeTokens(toks, v.location);
          expect(permissionTokens).toHaveLength(1);
          const base = ms[1] as Macaroon;
          const baseTail = base.unsafeTail();
          const packed = base64Decode(b64);
          base.add(...decodeCaveatSet(packed, testRegistry));
          expect(encodeAuthorizationHeader(ms)).toBe(expected);
          if (b64 === "kA==") {
            expect(base.unsafeTail()).toEqual(baseTail);
          } else {
            expect(base.unsafeTail()).toEqual(backend.hmacSha256(baseTail, packed));
          }
          const reparsed = parseAuthorizationHeader(expected, { registry: testRegistry })[1];
          if (reparsed?.kind !== "macaroon") throw new Error("bad result");
          if (b64 === "kgzEAwECAw==") {
            expect(() => reparsed.macaroon.verify(key, { backend })).toThrow(VerificationError);
          } else {
            expect(reparsed.macaroon.verify(key, { backend }).length).toBe(b64 === "kA==" ? 0 : 1);
          }
        }
      }
    });

    it("with_tps fails with no matching discharge, and both tickets open with tp_key", () => {
      const toks = parseAuthorizationHeader(v.with_tps, { registry: testRegistry });
      const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(toks, v.location);
      expect(permissionTokens).toHaveLength(1);
      expect(dischargeTokens).toHaveLength(1);
      const perm = (permissionTokens[0] as { macaroon: Macaroon }).macaroon;
      const discharges = dischargeTokens.map((t) => t.bytes);
      expect(() => perm.verify(key, { discharges, backend })).toThrow(
        expect.objectContaining({ code: "no_matching_discharge" }),
      );
      const tickets = perm.thirdPartyTickets();
      expect([...tickets.keys()].sort()).toEqual(["discharged", "undischarged"]);
      for (const [loc, [ticket]] of tickets) {
        const { caveats, discharge } = dischargeTicket(tpKey, loc, ticket as Uint8Array, {
          backend,
          registry: testRegistry,
        });
        expect(Array.isArray(caveats)).toBe(true);
        expect(discharge.nonce.kid).toEqual(ticket);
        expect(discharge.isProof).toBe(true);
      }
      const dis = dischargeTokens[0]?.macaroon as Macaroon;
      expect(dis.nonce.kid).toEqual(tickets.get("discharged")?.[0]);
    });
  });

  describe("fixed_vectors.json", () => {
    const c = fixed.chain;
    const key = hexDecode(c.key_hex);

    it("nonce encoding, tail0 and nonce UUID match", () => {
      const m = Macaroon.decodeUnverified(hexDecode(fixed.empty.token_msgpack_hex), { backend });
      expect(hexEncode(encodeNonceOf(m.nonce))).toBe(c.nonce_msgpack_hex);
      expect(hexEncode(m.unsafeTail())).toBe(c.tail0_hex);
      expect(hexEncode(backend.hmacSha256(key, hexDecode(c.nonce_msgpack_hex)))).toBe(c.tail0_hex);
      expect(m.nonce.uuid(backend)).toBe(c.nonce_uuid);
      expect(m.toString()).toBe(fixed.empty.token_string);
      expect(encodeAuthorizationHeader([m])).toBe(fixed.empty.header);
      expect(m.verify(key, { backend })).toEqual([]);
    });

    it("adding each step's caveat gives its packed bytes and tail, and the final token is byte-identical", () => {
      const m = Macaroon.decodeUnverified(hexDecode(fixed.empty.token_msgpack_hex), {
        backend,
        registry: testRegistry,
      });
      let tail = hexDecode(c.tail0_hex);
      for (const step of c.steps) {
        const packed = hexDecode(step.packed_caveat_hex);
        const cavs = decodeCaveatSet(packed, testRegistry);
        expect(cavs).toHaveLength(1);
        expect(packCaveat(cavs[0] as UnregisteredCaveat)).toEqual(packed);
        tail = backend.hmacSha256(tail, packed);
        expect(hexEncode(tail)).toBe(step.tail_after_hex);
        m.add(...cavs);
        expect(hexEncode(m.unsafeTail())).toBe(step.tail_after_hex);
        const expectedType = FLY_TYPES[step.caveat_json[0]?.type as string];
        expect(cavs[0]?.type).toBe(expectedType);
      }
      expect(hexEncode(m.encode())).toBe(c.token_msgpack_hex);
      expect(m.toString()).toBe(c.token_string);
    });

    it("ValidityWindow and BindToParentToken steps round-trip through JSON exactly", () => {
      for (const step of c.steps) {
        const cav = decodeCaveatSet(hexDecode(step.packed_caveat_hex))[0];
        if (cav?.type === CAV_VALIDITY_WINDOW || cav?.type === CAV_BIND_TO_PARENT) {
          expect(caveatSetToJSON([cav])).toEqual(step.caveat_json);
        }
      }
    });

    it("the whole chain is refused (top-level bind); the chain before the bind verifies to the 18 expected caveats", () => {
      const whole = Macaroon.decodeUnverified(hexDecode(c.token_msgpack_hex), { backend });
      expect(() => whole.verify(key)).toThrow(expect.objectContaining({ code: "bound_to_other_parent" }));
      const m = Macaroon.decodeUnverified(hexDecode(fixed.empty.token_msgpack_hex), { backend });
      for (const step of c.steps.slice(0, 18)) m.add(...decodeCaveatSet(hexDecode(step.packed_caveat_hex)));
      const verified = Macaroon.decodeUnverified(m.encode(), { backend }).verify(key);
      expect(verified.map((x) => x.type)).toEqual(c.verified_caveats_json.map((j) => FLY_TYPES[j.type]));
      const vw = verified.find((x) => x.type === CAV_VALIDITY_WINDOW);
      expect(caveatSetToJSON(vw ? [vw] : [])).toEqual(
        c.verified_caveats_json.filter((j) => j.type === "ValidityWindow"),
      );
    });

    describe("third party", () => {
      const tp = fixed.third_party;
      const tpKey = hexDecode(tp.tp_key_hex);
      const trusted3Ps = new Map([[tp.tp_location, [tpKey]]]);

      it("headers hold exactly the permission and discharge tokens", () => {
        const toks = parseAuthorizationHeader(tp.header, { registry: testRegistry });
        expect(toks.map((t) => (t.kind === "macaroon" ? hexEncode(t.bytes) : ""))).toEqual([
          tp.permission_token_hex,
          tp.discharge_token_hex,
        ]);
        const bound = parseAuthorizationHeader(tp.header_bound, { registry: testRegistry });
        expect(bound.map((t) => (t.kind === "macaroon" ? hexEncode(t.bytes) : ""))).toEqual([
          tp.permission_token_hex,
          tp.bound_discharge_token_hex,
        ]);
        expect(
          encodeAuthorizationHeader(toks.map((t) => (t.kind === "macaroon" ? t.macaroon : new Uint8Array()))),
        ).toBe(tp.header);
      });

      it("VerifierKey opens with tail_before_3p, the ticket opens with tp_key, and both give the same discharge key", () => {
        const perm = Macaroon.decodeUnverified(hexDecode(tp.permission_token_hex), {
          registry: testRegistry,
          backend,
        });
        const cav = perm.unsafeCaveats[1];
        expect(cav?.type).toBe(11n);
        const c3p = cav as unknown as { verifierKey: Uint8Array; ticket: Uint8Array; location: string };
        expect(hexEncode(c3p.verifierKey)).toBe(tp.caveat3p_verifier_key_hex);
        expect(hexEncode(c3p.ticket)).toBe(tp.caveat3p_ticket_hex);
        expect(c3p.location).toBe(tp.tp_location);
        expect(hexEncode(c.steps[0] ? hexDecode(c.steps[0].tail_after_hex) : new Uint8Array())).toBe(
          tp.tail_before_3p_hex,
        );
        const rn = backend.unseal(hexDecode(tp.tail_before_3p_hex), c3p.verifierKey);
        const plain = backend.unseal(tpKey, c3p.ticket);
        const r = new MsgpackReader(plain);
        expect(r.array()).toBe(2);
        expect(r.bin()).toEqual(rn);
        const ticketCavs = decodeCaveatSet(r, testRegistry);
        r.end();
        expect(ticketCavs.map((x) => x.type)).toEqual([9n]);
        const { caveats, discharge } = dischargeTicket(tpKey, tp.tp_location, c3p.ticket, {
          registry: testRegistry,
          backend,
        });
        expect(caveats.map((x) => x.type)).toEqual([9n]);
        expect(discharge.nonce.kid).toEqual(c3p.ticket);

        const dm = Macaroon.decodeUnverified(hexDecode(tp.discharge_token_hex), {
          registry: testRegistry,
          backend,
        });
        expect(dm.nonce.kid).toEqual(c3p.ticket);
        expect(dm.isProof).toBe(true);
        let t = backend.hmacSha256(rn, encodeNonceOf(dm.nonce));
        for (const cv of dm.unsafeCaveats) t = backend.hmacSha256(t, packCaveat(cv));
        expect(hexEncode(t)).toBe(tp.discharge_tail_before_finalize_hex);
        expect(dm.unsafeTail()).toEqual(
          backend.hmacSha256(new TextEncoder().encode("proof-signature-finalization"), t),
        );
        // A discharge verifies alone under rn, attestation included (top-level trust as in Go).
        expect(dm.verify(rn, { backend }).map((x) => x.type)).toEqual([4n, 23n]);
      });

      it("verified caveat sets: untrusted drops the attestation, trusted keeps it", () => {
        const toks = parseAuthorizationHeader(tp.header, { registry: testRegistry, backend });
        const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(toks, c.location);
        const perm = permissionTokens[0]?.macaroon as Macaroon;
        const discharges = dischargeTokens.map((d) => d.bytes);
        const untrusted = perm.verify(key, { discharges, backend });
        expect(untrusted.map((x) => x.type)).toEqual(
          tp.verified_untrusted_json.map((j) => FLY_TYPES[j.type]),
        );
        expect(caveatSetToJSON(untrusted, testRegistry).slice(1)).toEqual(
          tp.verified_untrusted_json.slice(1),
        );
        const trusted = perm.verify(key, { discharges, trusted3Ps, backend });
        expect(trusted.map((x) => x.type)).toEqual(tp.verified_trusted_json.map((j) => FLY_TYPES[j.type]));
        expect(caveatSetToJSON(trusted, testRegistry).slice(1)).toEqual(tp.verified_trusted_json.slice(1));
        // A trusted key for another location does not make it trusted.
        const other = perm.verify(key, {
          discharges,
          trusted3Ps: new Map([["https://elsewhere", [tpKey]]]),
          backend,
        });
        expect(other).toHaveLength(2);
      });

      it("the bound discharge verifies with its parent and with the attenuated parent", () => {
        const bound = hexDecode(tp.bound_discharge_token_hex);
        const dm = Macaroon.decodeUnverified(bound, { registry: testRegistry });
        const bid = dm.unsafeCaveats.find((x) => x.type === CAV_BIND_TO_PARENT) as unknown as {
          bindingId: Uint8Array;
        };
        expect(hexEncode(bid.bindingId)).toBe(tp.binding_id_hex);
        const perm = Macaroon.decodeUnverified(hexDecode(tp.permission_token_hex), {
          registry: testRegistry,
          backend,
        });
        expect(hexEncode(backend.sha256(perm.unsafeTail()).slice(0, 16))).toBe(tp.binding_id_hex);
        expect(perm.verify(key, { discharges: [bound], trusted3Ps, backend }).map((x) => x.type)).toEqual([
          0n,
          4n,
          23n,
        ]);
        const att = Macaroon.decodeUnverified(hexDecode(tp.attenuated_parent_token_hex), {
          registry: testRegistry,
          backend,
        });
        expect(tp.attenuated_parent_with_bound_discharge_verifies).toBe(true);
        expect(att.verify(key, { discharges: [bound], backend }).map((x) => x.type)).toEqual([0n, 4n, 4n]);
        // Attenuating the permission token ourselves gives the vector's attenuated parent exactly.
        perm.add(new ValidityWindow(1700000000n, 1800000000n));
        expect(hexEncode(perm.encode())).toBe(tp.attenuated_parent_token_hex);
      });
    });
  });
});

function encodeNonceOf(n: Nonce): Uint8Array {
  const w = new MsgpackWriter();
  n.write(w);
  return w.finish();
}
