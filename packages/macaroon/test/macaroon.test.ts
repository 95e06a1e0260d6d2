import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BindToParentToken,
  Caveat3P,
  caveatSetFromJSON,
  caveatSetToJSON,
  coreRegistry,
  decodeCaveatSet,
  encodeCaveatSet,
  UnregisteredCaveat,
  ValidityWindow,
  validateCaveats,
} from "../src/caveat.js";
import { base64Encode, hexDecode, hexEncode } from "../src/encoding.js";
import {
  CaveatError,
  LimitError,
  MacaroonError,
  MsgpackError,
  PermissionError,
  VerificationError,
} from "../src/errors.js";
import { dischargeTicket, kidForKey, Macaroon, newKey } from "../src/macaroon.js";
import { MsgpackWriter } from "../src/msgpack.js";
import { nonceUUID } from "../src/nonce.js";
import { attestation, backends, testRegistry, userCav, userRegistry } from "./helpers.js";

const LOC = "https://api.fly.io/v1";
const AUTH = "https://api.fly.io/aaa/v1";
const at = (unix: number) => ({ now: () => new Date(unix * 1000), validate: () => {} });

describe.each(backends)("Macaroon, %s backend", (_name, backend) => {
  const key = newKey(backend);
  const kid = kidForKey(key, backend);
  const ka = newKey(backend);
  const mint = (...cavs: Parameters<Macaroon["add"]>) =>
    Macaroon.mint({ key, kid, location: LOC, caveats: cavs, backend, registry: userRegistry });

  /** A permission token with one 3P caveat and its finalized discharge. */
  function withDischarge(dischargeCavs: Parameters<Macaroon["add"]> = [ValidityWindow.fromNow(60)]) {
    const perm = mint(userCav(1n));
    const ticket = perm.add3P(ka, AUTH, [userCav(7n)]);
    perm.add(userCav(2n));
    const { caveats, discharge } = dischargeTicket(ka, AUTH, ticket, { backend, registry: userRegistry });
    expect(caveats).toEqual([userCav(7n)]);
    discharge.add(...dischargeCavs);
    return { perm, permBytes: perm.encode(), dis: discharge, disBytes: discharge.encode() };
  }

  it("mint → encode → decode → verify returns the caveats; the token string is fm2_ + std base64", () => {
    const m = mint(userCav(1n), new ValidityWindow(10n, 20n));
    const bytes = m.encode();
    expect(m.toString()).toBe(`fm2_${base64Encode(bytes)}`);
    const d = Macaroon.fromStringUnverified(m.toString(), { registry: userRegistry, backend });
    expect(d.verify(key)).toEqual([userCav(1n), new ValidityWindow(10n, 20n)]);
    expect(d.nonce.version).toBe(1);
    expect(d.nonce.rnd).toHaveLength(16);
    expect(nonceUUID(d.nonce, backend)).toBe(d.nonce.uuid());
    expect(d.nonce.uuid(backend)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("attenuation needs no key and the result verifies with the root key", () => {
    const m = Macaroon.decodeUnverified(mint(userCav(1n)).encode(), { registry: userRegistry, backend });
    m.add(userCav(5n));
    expect(
      Macaroon.decodeUnverified(m.encode(), { registry: userRegistry }).verify(key, { backend }),
    ).toEqual([userCav(1n), userCav(5n)]);
  });

  it("add skips caveats equal to existing or earlier ones (Go dedup)", () => {
    const m = mint(userCav(1n));
    const tail = m.unsafeTail();
    m.add(userCav(1n));
    expect(m.unsafeTail()).toEqual(tail);
    m.add(userCav(2n), userCav(2n), userCav(3n));
    expect(m.unsafeCaveats).toEqual([userCav(1n), userCav(2n), userCav(3n)]);
  });

  it("add refuses a second 3P caveat for the same location, leaving the token unchanged", () => {
    const m = mint();
    m.add3P(ka, AUTH);
    const before = m.encode();
    expect(() => m.add3P(ka, AUTH)).toThrow(expect.objectContaining({ code: "duplicate_3p_location" }));
    expect(m.encode()).toEqual(before);
    m.add3P(ka, "https://other");
    expect(m.thirdPartyTickets().size).toBe(2);
  });

  it("add refuses a Caveat3P not made by add3P", () => {
    expect(() => mint().add(new Caveat3P(AUTH, new Uint8Array(60), new Uint8Array(69)))).toThrow(CaveatError);
  });

  it("add refuses attestations on non-proofs, atomically", () => {
    const m = mint();
    const before = m.encode();
    expect(() => m.add(userCav(4n), attestation(42n))).toThrow(
      expect.objectContaining({ code: "attestation_not_allowed" }),
    );
    expect(m.encode()).toEqual(before);
  });

  it("a finalized proof cannot be attenuated, before or after decoding", () => {
    const { dis, disBytes } = withDischarge();
    expect(() => dis.add(userCav(9n))).toThrow(expect.objectContaining({ code: "finalized_proof" }));
    const decoded = Macaroon.decodeUnverified(disBytes, { registry: userRegistry });
    expect(() => decoded.add(userCav(9n))).toThrow(expect.objectContaining({ code: "finalized_proof" }));
  });

  it("an unfinalized proof does not verify", () => {
    const perm = mint();
    const ticket = perm.add3P(ka, AUTH);
    const { discharge } = dischargeTicket(ka, AUTH, ticket, { backend });
    const rn = backend.unseal(ka, ticket).subarray(3, 35);
    expect(() => discharge.verify(rn)).toThrow(expect.objectContaining({ code: "unfinalized_proof" }));
  });

  it("discharge flow: verified set = first-party caveats + discharge caveats, never 3P or bind caveats", () => {
    const { permBytes, disBytes } = withDischarge([new ValidityWindow(1n, 2n), attestation(42n)]);
    const perm = Macaroon.decodeUnverified(permBytes, { registry: userRegistry });
    expect(perm.verify(key, { discharges: [disBytes], backend })).toEqual([
      userCav(1n),
      userCav(2n),
      new ValidityWindow(1n, 2n),
    ]);
    const trusted = perm.verify(key, {
      discharges: [disBytes],
      trusted3Ps: new Map([[AUTH, [newKey(), ka]]]),
      backend,
    });
    expect(trusted).toEqual([userCav(1n), userCav(2n), new ValidityWindow(1n, 2n), attestation(42n)]);
    expect(trusted.some((c) => c instanceof Caveat3P || c instanceof BindToParentToken)).toBe(false);
  });

  it("a trusted key whose ticket carries another discharge key disqualifies the discharge", () => {
    const { permBytes, disBytes } = withDischarge();
    const perm = Macaroon.decodeUnverified(permBytes, { registry: userRegistry });
    const w = new MsgpackWriter().array(2).bin(newKey()).array(0).finish();
    // A forged discharge whose KID is a ticket sealed under the trusted key but with another rn.
    const forgedTicket = backend.seal(ka, w);
    expect(perm.verify(key, { discharges: [disBytes, forgedTicket], backend })).toHaveLength(3);
  });

  it("every matching discharge is tried; a bad one alongside a good one is fine", () => {
    const { perm, permBytes, disBytes } = withDischarge();
    const ticket = [...perm.thirdPartyTickets().values()][0]?.[0] as Uint8Array;
    const { discharge: bogus } = dischargeTicket(ka, AUTH, ticket, { backend });
    const bogusBytes = bogus.encode();
    bogusBytes[bogusBytes.length - 1] = (bogusBytes[bogusBytes.length - 1] as number) ^ 1;
    const p = Macaroon.decodeUnverified(permBytes, { registry: userRegistry });
    expect(p.verify(key, { discharges: [bogusBytes, disBytes], backend })).toHaveLength(3);
    const err = captureError(() => p.verify(key, { discharges: [bogusBytes], backend }));
    expect(err).toBeInstanceOf(VerificationError);
    expect(err).toMatchObject({ code: "discharge_failed", caveatIndex: 1, dischargeIndex: 0 });
  });

  it("refuses an undischarged 3P caveat and a discharge for another ticket", () => {
    const { permBytes } = withDischarge();
    const perm = Macaroon.decodeUnverified(permBytes, { registry: userRegistry });
    expect(() => perm.verify(key, { backend })).toThrow(
      expect.objectContaining({ code: "no_matching_discharge", caveatIndex: 1 }),
    );
    const other = withDischarge();
    expect(() => perm.verify(key, { discharges: [other.disBytes], backend })).toThrow(
      expect.objectContaining({ code: "no_matching_discharge" }),
    );
  });

  it("refuses a discharge with its own 3P caveat (no nesting)", () => {
    const perm = mint();
    const ticket = perm.add3P(ka, AUTH);
    const { discharge } = dischargeTicket(ka, AUTH, ticket, { backend });
    const innerTicket = discharge.add3P(ka, "https://nested");
    const inner = dischargeTicket(ka, "https://nested", innerTicket, { backend }).discharge.encode();
    const err = captureError(() => perm.verify(key, { discharges: [discharge.encode(), inner], backend }));
    expect(err).toMatchObject({ code: "discharge_failed" });
    expect((err as VerificationError).reasons[0]?.code).toBe("nested_third_party");
  });

  it("binding: a bound discharge works for its parent and later attenuations, not earlier versions or forks", () => {
    const p0 = mint(userCav(1n));
    const ticket = p0.add3P(ka, AUTH);
    const p1 = Macaroon.decodeUnverified(p0.encode(), { registry: userRegistry }).add(userCav(2n));
    const { discharge } = dischargeTicket(ka, AUTH, ticket, { backend });
    discharge.bindToParentTail(p1.unsafeTail());
    const dis = discharge.encode();
    const ok = (m: Macaroon) =>
      Macaroon.decodeUnverified(m.encode(), { registry: userRegistry }).verify(key, {
        discharges: [dis],
        backend,
      });
    expect(ok(p1)).toHaveLength(2);
    const p2 = Macaroon.decodeUnverified(p1.encode(), { registry: userRegistry }).add(userCav(3n));
    expect(ok(p2)).toHaveLength(3);
    expect(() => ok(p0)).toThrow(VerificationError);
    const fork = Macaroon.decodeUnverified(p0.encode(), { registry: userRegistry }).add(userCav(9n));
    const err = captureError(() => ok(fork));
    expect((err as VerificationError).reasons[0]?.code).toBe("bound_to_other_parent");
  });

  it("refuses a wrong key, a removed caveat and reordered caveats", () => {
    const m = mint(userCav(1n), userCav(2n), userCav(3n));
    const bytes = m.encode();
    expect(() =>
      Macaroon.decodeUnverified(bytes, { registry: userRegistry }).verify(newKey(), { backend }),
    ).toThrow(expect.objectContaining({ code: "bad_signature" }));
    const rebuild = (cavs: bigint[]) => {
      const w = new MsgpackWriter().array(4);
      m.nonce.write(w);
      w.str(LOC).array(cavs.length * 2);
      for (const v of cavs) w.raw(hexDecode("cf0001000000000000")).uint(v);
      return w.bin(m.unsafeTail()).finish();
    };
    expect(
      Macaroon.decodeUnverified(rebuild([1n, 2n, 3n]), { registry: userRegistry }).verify(key, { backend }),
    ).toHaveLength(3);
    for (const cavs of [[1n, 2n], [1n, 3n], [2n, 3n], [2n, 1n, 3n], [3n, 2n, 1n], []]) {
      expect(() =>
        Macaroon.decodeUnverified(rebuild(cavs), { registry: userRegistry }).verify(key, { backend }),
      ).toThrow(expect.objectContaining({ code: "bad_signature" }));
    }
  });

  it("a flipped bit at every byte of a token is refused (only the unauthenticated location may change)", () => {
    const { permBytes, disBytes } = withDischarge();
    flipEveryByte(permBytes, (t) =>
      Macaroon.decodeUnverified(t, { registry: userRegistry }).verify(key, {
        discharges: [disBytes],
        backend,
      }),
    );
  });

  it("a flipped bit at every byte of a discharge is refused (only its location may change)", () => {
    const { permBytes, disBytes } = withDischarge();
    const perm = Macaroon.decodeUnverified(permBytes, { registry: userRegistry });
    flipEveryByte(disBytes, (d) => {
      perm.verify(key, { discharges: [d], backend });
      return Macaroon.decodeUnverified(d);
    });
  });

  it("refuses non-canonical encodings of each field", () => {
    const m = mint(userCav(300n), new ValidityWindow(1700000000n, 1700003600n));
    const good = hexEncode(m.encode());
    expect(() => Macaroon.decodeUnverified(hexDecode(good), { registry: userRegistry })).not.toThrow();
    const variants: [string, string][] = [
      ["cd012c", "ce0000012c"], // uint body in a wider form
      ["ce6553f100", "cf000000006553f100"], // int64 in a wider form
      [`b5${hexEncode(new TextEncoder().encode(LOC))}`, `d915${hexEncode(new TextEncoder().encode(LOC))}`], // str8 for a fixstr
      ["94", "dc0004"], // array16 for a fixarray
    ];
    for (const [from, to] of variants) {
      expect(good.includes(from)).toBe(true);
      const bad = hexDecode(good.replace(from, to));
      expect(() => Macaroon.decodeUnverified(bad, { registry: userRegistry })).toThrow(
        expect.objectContaining({ code: "msgpack_non_canonical" }),
      );
    }
    // bin16 for a bin8 (the tail)
    const wideTail = `${good.slice(0, -68)}c50020${good.slice(-64)}`;
    expect(() => Macaroon.decodeUnverified(hexDecode(wideTail), { registry: userRegistry })).toThrow(
      expect.objectContaining({ code: "msgpack_non_canonical" }),
    );
    // str where bin is expected (KID)
    const strKid = good.replace(`c410${hexEncode(kid)}`, `b0${hexEncode(kid)}`);
    expect(() => Macaroon.decodeUnverified(hexDecode(strKid))).toThrow(
      expect.objectContaining({ code: "msgpack_unexpected_type" }),
    );
    // caveat type in a wider form
    const wideType = good.replace("0492ce6553f100", "cc0492ce6553f100");
    expect(wideType).not.toBe(good);
    expect(() => Macaroon.decodeUnverified(hexDecode(wideType))).toThrow(MsgpackError);
  });

  it("refuses oversized input, huge caveat counts and too many discharges, cheaply", () => {
    expect(() => Macaroon.decodeUnverified(new Uint8Array(70_000))).toThrow(
      expect.objectContaining({ code: "limit_exceeded" }),
    );
    const w = new MsgpackWriter().array(4).array(3).bin(kid).bin(new Uint8Array(16)).bool(false).str(LOC);
    const claim = w.raw(hexDecode("dd003d0900")).finish(); // claims 4M items (2M caveats)
    expect(() => Macaroon.decodeUnverified(claim)).toThrow(MsgpackError);
    const many = new MsgpackWriter()
      .array(4)
      .array(3)
      .bin(kid)
      .bin(new Uint8Array(16))
      .bool(false)
      .str(LOC)
      .array(1200);
    for (let i = 0; i < 600; i++) many.uint(4).raw(hexDecode("920102"));
    expect(() => Macaroon.decodeUnverified(many.bin(new Uint8Array(32)).finish())).toThrow(LimitError);
    const m = mint();
    expect(() => m.verify(key, { discharges: Array.from({ length: 17 }, () => new Uint8Array(1)) })).toThrow(
      expect.objectContaining({ limit: "maxDischarges" }),
    );
  });

  it("refuses an attestation inside a non-proof token at verification", () => {
    // Built by hand: add() would refuse it.
    const m = mint();
    const w = new MsgpackWriter().array(4);
    m.nonce.write(w);
    const packed = new MsgpackWriter().array(2).uint(23).uint(42).finish();
    w.str(LOC).array(2).uint(23).uint(42).bin(backend.hmacSha256(m.unsafeTail(), packed));
    const t = Macaroon.decodeUnverified(w.finish(), { registry: testRegistry });
    expect(() => t.verify(key, { backend })).toThrow(
      expect.objectContaining({ code: "attestation_in_non_proof" }),
    );
  });

  it("nonce v0 tokens keep their version and verify", () => {
    const w = new MsgpackWriter().array(2).bin(kid).bin(new Uint8Array(16).fill(7)).finish();
    const tail = backend.hmacSha256(key, w);
    const tok = new MsgpackWriter().array(4).raw(w).str(LOC).array(0).bin(tail).finish();
    const m = Macaroon.decodeUnverified(tok);
    expect(m.nonce.version).toBe(0);
    expect(m.encode()).toEqual(tok);
    expect(m.verify(key, { backend })).toEqual([]);
  });

  it("errors and inspection never show key or tail bytes", () => {
    const m = mint(userCav(1n));
    const tailHex = hexEncode(m.unsafeTail());
    const tailB64 = base64Encode(m.unsafeTail());
    const msgs: string[] = [];
    for (const f of [() => m.verify(newKey()), () => Macaroon.decodeUnverified(m.encode().subarray(0, 50))]) {
      const e = captureError(f) as Error;
      msgs.push(e.message, String(e.stack));
    }
    msgs.push(
      JSON.stringify(m),
      (m as unknown as Record<symbol, () => string>)[Symbol.for("nodejs.util.inspect.custom")]?.() ?? "",
    );
    for (const s of msgs) {
      expect(s).not.toContain(tailHex);
      expect(s).not.toContain(tailB64);
      expect(s).not.toContain(hexEncode(key));
    }
  });

  it("property: random caveat sets survive encode/decode and verify identically", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => userCav(v)),
            fc
              .tuple(
                fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
                fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
              )
              .map(([a, b]) => new ValidityWindow(a, b)),
          ),
          { maxLength: 12 },
        ),
        (cavs) => {
          const m = mint(...cavs);
          const bytes = m.encode();
          const d = Macaroon.decodeUnverified(bytes, { registry: userRegistry });
          expect(d.encode()).toEqual(bytes);
          expect(d.unsafeCaveats).toEqual(m.unsafeCaveats);
          expect(d.verify(key, { backend })).toEqual(m.unsafeCaveats);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("property: attenuation never widens (a child's verified set contains its parent's)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 1000n }), { maxLength: 6 }),
        fc.array(fc.bigInt({ min: 0n, max: 1000n }), { maxLength: 6 }),
        (a, b) => {
          const parent = mint(...a.map(userCav));
          const pv = Macaroon.decodeUnverified(parent.encode(), { registry: userRegistry }).verify(key, {
            backend,
          });
          const child = Macaroon.decodeUnverified(parent.encode(), { registry: userRegistry }).add(
            ...b.map(userCav),
          );
          const cv = Macaroon.decodeUnverified(child.encode(), { registry: userRegistry }).verify(key, {
            backend,
          });
          expect(cv.slice(0, pv.length)).toEqual(pv);
          expect(cv.length).toBeGreaterThanOrEqual(pv.length);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("decoding hostile input", () => {
  it("property: decoding random bytes only throws MacaroonError subclasses", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          Macaroon.decodeUnverified(b);
        } catch (e) {
          expect(e).toBeInstanceOf(MacaroonError);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("property: mutating a valid token only throws MacaroonError subclasses", () => {
    const key = newKey();
    const base = Macaroon.mint({
      key,
      kid: new Uint8Array(4),
      location: LOC,
      caveats: [new ValidityWindow(1n, 2n)],
    }).encode();
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const t = base.slice();
        t[i] = v;
        try {
          Macaroon.decodeUnverified(t).verify(key);
        } catch (e) {
          expect(e).toBeInstanceOf(MacaroonError);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("core caveats", () => {
  it("ValidityWindow allows [not_before, not_after] inclusive, else PermissionError with its type", () => {
    const vw = new ValidityWindow(100n, 200n);
    expect(vw.prohibits(at(100))).toBeUndefined();
    expect(vw.prohibits(at(200))).toBeUndefined();
    expect(vw.prohibits(at(201))).toMatchObject({ code: "token_expired", caveatType: 4n });
    expect(vw.prohibits(at(99))).toMatchObject({ code: "token_not_yet_valid" });
    expect(() => validateCaveats([vw], at(150))).not.toThrow();
    expect(() => validateCaveats([vw], at(150), at(250))).toThrow(PermissionError);
  });

  it("validateCaveats skips attestations, refuses 3P/bind/unregistered caveats and malformed accesses", () => {
    expect(() => validateCaveats([attestation(0n)], at(1))).not.toThrow();
    expect(() => validateCaveats([new BindToParentToken(new Uint8Array(16))], at(1))).toThrow(
      PermissionError,
    );
    const bad = {
      now: () => new Date(),
      validate: () => {
        throw new Error("no org");
      },
    };
    const e = captureError(() => validateCaveats([], bad)) as PermissionError;
    expect(e.code).toBe("invalid_access");
    const two = captureError(() =>
      validateCaveats([new ValidityWindow(0n, 0n), userCav(0n)], at(5)),
    ) as PermissionError;
    expect(two.reasons).toHaveLength(2);
  });

  it("unregistered caveats pass through byte-exact, render generically, and always prohibit", () => {
    expect(() => decodeCaveatSet(hexDecode("930401c0"))).toThrow(
      expect.objectContaining({ code: "msgpack_malformed" }),
    ); // odd length
    const ok = hexDecode(
      "96cf0001000000000005a3666f6fcf000100000000000691c4020102cf0001000000000007810182a161c3a162d085",
    );
    const cavs = decodeCaveatSet(ok);
    expect(cavs.every((c) => c instanceof UnregisteredCaveat)).toBe(true);
    expect(encodeCaveatSet(cavs)).toEqual(ok);
    expect(caveatSetToJSON(cavs)).toEqual([
      { type: "281474976710661", body: "foo" },
      { type: "281474976710662", body: ["AQI="] },
      { type: "281474976710663", body: { "1": { a: true, b: -123 } } },
    ]);
    expect(() => validateCaveats(cavs.slice(0, 1), at(1))).toThrow(
      expect.objectContaining({ code: "unregistered_caveat" }),
    );
    expect(() => Macaroon.decodeUnverified("fm2_x" as unknown as Uint8Array)).toThrow(MsgpackError);
  });

  it("caveat set JSON round-trips core caveats and accepts decimal type strings", () => {
    const cavs = [new ValidityWindow(1n, 2n), new BindToParentToken(hexDecode("deadbeef"))];
    const json = caveatSetToJSON(cavs);
    expect(json).toEqual([
      { type: "ValidityWindow", body: { not_before: 1, not_after: 2 } },
      { type: "BindToParentToken", body: "3q2+7w==" },
    ]);
    expect(caveatSetFromJSON(json)).toEqual(cavs);
    expect(caveatSetFromJSON([{ type: "4", body: { not_before: 3, not_after: 4 } }])).toEqual([
      new ValidityWindow(3n, 4n),
    ]);
    expect(() => caveatSetFromJSON([{ type: "Nope", body: {} }])).toThrow(CaveatError);
    expect(() => caveatSetFromJSON([{ type: "ValidityWindow", body: { not_before: "x" } }])).toThrow(
      CaveatError,
    );
    expect(() => caveatSetFromJSON({})).toThrow(CaveatError);
    expect(() => coreRegistry.extend(coreRegistry.get(4n) as never)).toThrow(CaveatError);
  });
});

function captureError(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

/** Flip one bit in each byte; each result must be refused or differ only in location. */
function flipEveryByte(bytes: Uint8Array, use: (t: Uint8Array) => unknown): void {
  const loc = (b: Uint8Array) => Macaroon.decodeUnverified(b).location;
  const original = loc(bytes);
  let refused = 0;
  for (let i = 0; i < bytes.length; i++) {
    const t = bytes.slice();
    t[i] = (t[i] as number) ^ (1 << (i % 8));
    try {
      use(t);
    } catch (e) {
      expect(e).toBeInstanceOf(MacaroonError);
      refused++;
      continue;
    }
    expect(loc(t)).not.toBe(original);
  }
  expect(refused).toBeGreaterThan(bytes.length - 40);
}
