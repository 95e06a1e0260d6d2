/**
 * Security issue 12, item 3: the cache accepts exactly what tkdb accepts, and returns the caveats
 * tkdb returns. Each `describe` below is one class of what a token holder can present; each test
 * compares the CachingVerifier with the authority's own answer for the same header (TestAuthority
 * answers as tkdb's verify does). The fast-check suite at the end mixes every class.
 */
import { FlyioUserID, flyRegistry, Organization } from "@tkdb/caveats";
import { type Caveat, coreRegistry, Macaroon, type Nonce, newKey, ValidityWindow } from "@tkdb/macaroon";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CachingVerifier, defaultNonceId } from "../src/verifier.js";
import { TestAuthority, wireJSON } from "./authority.js";
import {
  append3P,
  appendCaveats,
  appendRaw,
  attestations,
  type Draft,
  discharge,
  draftOf,
  encodeDraft,
  firstPartyCaveats,
  flipBit,
  headerOf,
  tailOf,
  tokenString,
  unknownCaveat,
  unknownTypes,
} from "./bundles.js";

const T0 = 1_800_000_000_000;
const NOW_S = BigInt(T0 / 1000);
const AUTH = "https://auth.test/aaa/v1";
const AUTH2 = "https://auth2.test/v1";
const kaAuth = newKey();
const kaAuth2 = newKey();

type Shape = "plain" | "trusted" | "untrusted" | "bound";

interface World {
  clock: { now: number };
  authority: TestAuthority;
  verifier: CachingVerifier;
}

async function world(registry = flyRegistry): Promise<World> {
  const clock = { now: T0 };
  const authority = new TestAuthority(clock, {
    registry: flyRegistry,
    trusted3Ps: new Map([
      [AUTH, [kaAuth]],
      [AUTH2, [kaAuth2]],
    ]),
  });
  const verifier = new CachingVerifier({
    authority,
    registry,
    now: () => clock.now,
    failClosedAfterMs: 60_000,
  });
  await verifier.poll();
  return { clock, authority, verifier };
}

/** A holder's bundle: the permission token (as a draft), its discharges, and its 3P tickets. */
interface Bundle {
  draft: Draft;
  discharges: Uint8Array[];
  tickets: { ka: Uint8Array; location: string; ticket: Uint8Array }[];
  extra: string[];
}

function bundle(w: World, shape: Shape): Bundle {
  const m = w.authority.mint([new Organization(5n, 0x1f)]);
  const draft = draftOf(m);
  if (shape === "plain") return { draft, discharges: [], tickets: [], extra: [] };
  const [ka, location] = shape === "untrusted" ? [newKey(), "https://other.test/3p"] : [kaAuth, AUTH];
  const ticket = append3P(draft, ka, location);
  const d = discharge(ka, location, ticket, {
    caveats: [new ValidityWindow(NOW_S - 30n, NOW_S + 300n)],
    attestations: [new FlyioUserID(77n)],
    ...(shape === "bound" ? { bindTo: tailOf(draft) } : {}),
  });
  return { draft, discharges: [d], tickets: [{ ka, location, ticket }], extra: [] };
}

function header(b: Bundle, perm: Uint8Array = encodeDraft(b.draft)): string {
  return headerOf([tokenString(perm), ...b.discharges.map(tokenString), ...b.extra]);
}

type Outcome = { ok: true; caveats: unknown } | { ok: false };

/** tkdb's answer (through the authority) with the clock check the verifier also makes. */
function oracle(w: World, h: string): Outcome {
  try {
    w.authority.check(h);
    return { ok: true, caveats: w.authority.answerJSON(h) };
  } catch {
    return { ok: false };
  }
}

async function viaCache(w: World, h: string): Promise<Outcome & { cached?: boolean }> {
  try {
    const r = await w.verifier.verify(h);
    return { ok: true, caveats: wireJSON(r.caveats, flyRegistry), cached: r.cached };
  } catch {
    return { ok: false };
  }
}

/** Asks both, asserts they agree (verdict and caveats), returns whether the cache answered. */
async function agree(w: World, h: string): Promise<{ ok: boolean; cached: boolean }> {
  const want = oracle(w, h);
  const got = await viaCache(w, h);
  const { cached, ...verdict } = got;
  expect(verdict).toEqual(want);
  return { ok: got.ok, cached: cached === true };
}

/** Verifies the bundle once (online) so the cache holds it. */
async function seed(w: World, b: Bundle): Promise<void> {
  const r = await agree(w, header(b));
  expect(r).toEqual({ ok: true, cached: false });
  expect(w.verifier.cache.size).toBeGreaterThan(0);
}

describe("first-party attenuation (the one class decided by the MAC alone)", () => {
  it("registered first-party caveats appended to a cached token are accepted from the cache with tkdb's caveats, in tkdb's order (token, appended, discharges)", async () => {
    for (const shape of ["plain", "trusted", "untrusted", "bound"] as const) {
      const w = await world();
      const b = bundle(w, shape);
      await seed(w, b);
      appendCaveats(b.draft, new Organization(5n, 1), new ValidityWindow(NOW_S - 5n, NOW_S + 60n));
      expect(await agree(w, header(b))).toEqual({ ok: true, cached: true });
    }
  });

  it("every registered first-party type, appended alone, gets tkdb's verdict and caveats (from the cache when tkdb's JSON carries it unchanged)", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    let hits = 0;
    for (const c of firstPartyCaveats(NOW_S)) {
      const d = { ...b, draft: { ...b.draft, packed: [...b.draft.packed] } };
      appendCaveats(d.draft, c);
      if ((await agree(w, header(d))).cached) hits++;
    }
    expect(hits).toBeGreaterThan(15);
  });

  it("duplicated caveats (already in the token, or appended twice) are accepted from the cache with the duplicates tkdb returns", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    appendRaw(b.draft, b.draft.packed[0] as Uint8Array, b.draft.packed[1] as Uint8Array);
    appendCaveats(b.draft, new Organization(5n, 1), new Organization(5n, 1));
    expect(await agree(w, header(b))).toEqual({ ok: true, cached: true });
  });

  it("an integer past 2^53 (carried as a string in tkdb's JSON) is not accepted locally: the answer is tkdb's", async () => {
    const w = await world();
    const b = bundle(w, "plain");
    await seed(w, b);
    appendCaveats(b.draft, new Organization(1n << 60n, 1));
    expect((await agree(w, header(b))).cached).toBe(false);
  });
});

describe("attestations (issue 12.3: the cache accepted what tkdb refuses)", () => {
  it("an attestation appended to a permission token is refused, as tkdb refuses it, never accepted from the cache", async () => {
    for (const reg of [flyRegistry, coreRegistry]) {
      for (const a of attestations()) {
        const w = await world(reg);
        const b = bundle(w, "plain");
        await seed(w, b);
        appendCaveats(b.draft, a);
        expect(await agree(w, header(b))).toEqual({ ok: false, cached: false });
      }
    }
  });

  it("a trusted discharge's attestation comes back from the cache exactly as tkdb returns it, after the appended caveats", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    appendCaveats(b.draft, new ValidityWindow(NOW_S - 5n, NOW_S + 60n));
    const r = await w.verifier.verify(header(b));
    expect(r.cached).toBe(true);
    expect(r.caveats.map((c: Caveat) => c.type)).toEqual([4n, 0n, 4n, 4n, 23n]);
    expect(wireJSON(r.caveats, flyRegistry)).toEqual(w.authority.answerJSON(header(b)));
  });
});

describe("caveats the MAC alone does not decide go online", () => {
  it("an unregistered caveat type appended gets tkdb's answer, not a local accept", async () => {
    for (const raw of unknownTypes()) {
      const w = await world();
      const b = bundle(w, "trusted");
      await seed(w, b);
      appendRaw(b.draft, raw);
      expect((await agree(w, header(b))).cached).toBe(false);
    }
  });

  it("a third-party caveat appended is refused without its discharge and accepted online (with tkdb's caveats) with it", async () => {
    const w = await world();
    const b = bundle(w, "plain");
    await seed(w, b);
    const ka = newKey();
    const ticket = append3P(b.draft, ka, "https://holder.test/3p");
    expect(await agree(w, header(b))).toEqual({ ok: false, cached: false });
    b.discharges.push(
      discharge(ka, "https://holder.test/3p", ticket, { caveats: [new Organization(5n, 1)] }),
    );
    expect(await agree(w, header(b))).toEqual({ ok: true, cached: false });
  });

  it("a bind-to-parent caveat in a permission token is refused, as tkdb refuses it", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    const tail = tailOf(b.draft);
    appendRaw(b.draft, unknownCaveat(12n, Uint8Array.of(0xc4, 16, ...tail.slice(0, 16))));
    expect(await agree(w, header(b))).toEqual({ ok: false, cached: false });
  });
});

describe("forgeries and reorders", () => {
  it("reordering the minted caveats is refused; reordering only the holder's own appended caveats is accepted", async () => {
    const w = await world();
    const b = bundle(w, "plain");
    await seed(w, b);
    appendCaveats(b.draft, new Organization(5n, 1), new ValidityWindow(NOW_S - 5n, NOW_S + 60n));
    const swapped = (i: number, j: number): Draft => {
      const p = [...b.draft.packed];
      [p[i], p[j]] = [p[j] as Uint8Array, p[i] as Uint8Array];
      return { ...b.draft, packed: p };
    };
    expect(await agree(w, header(b, encodeDraft(swapped(0, 1))))).toEqual({ ok: false, cached: false });
    expect(await agree(w, header(b, encodeDraft(swapped(1, 2))))).toEqual({ ok: false, cached: false });
    expect(await agree(w, header(b, encodeDraft(swapped(2, 3))))).toEqual({ ok: true, cached: true });
  });

  it("a bit flip anywhere in an attenuated token or its discharge is accepted only if tkdb accepts it", async () => {
    const w = await world();
    const b = bundle(w, "bound");
    await seed(w, b);
    appendCaveats(b.draft, new Organization(5n, 1));
    const perm = encodeDraft(b.draft);
    for (let i = 0; i < perm.length; i++) await agree(w, header(b, flipBit(perm, i, i)));
    const d = b.discharges[0] as Uint8Array;
    for (let i = 0; i < d.length; i++)
      await agree(w, headerOf([tokenString(perm), tokenString(flipBit(d, i, i + 3))]));
  });
});

describe("discharges", () => {
  it("a discharge list other than the one tkdb verified (dropped, duplicated, reordered, a rival for the same ticket first) is decided online", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    appendCaveats(b.draft, new Organization(5n, 1));
    const t = b.tickets[0] as Bundle["tickets"][number];
    const rival = discharge(t.ka, t.location, t.ticket, { caveats: [new Organization(5n, 3)] });
    const d = b.discharges[0] as Uint8Array;
    for (const ds of [[], [d, d], [rival, d], [d, rival]]) {
      expect((await agree(w, header({ ...b, discharges: ds }))).cached).toBe(false);
    }
  });

  it("a discharge bound to the token stays valid for its descendants from the cache; one bound to another token is refused", async () => {
    const w = await world();
    const b = bundle(w, "bound");
    await seed(w, b);
    appendCaveats(b.draft, new Organization(5n, 1));
    expect(await agree(w, header(b))).toEqual({ ok: true, cached: true });
    const t = b.tickets[0] as Bundle["tickets"][number];
    const other = discharge(t.ka, t.location, t.ticket, { bindTo: "other" });
    expect(await agree(w, header({ ...b, discharges: [other] }))).toEqual({ ok: false, cached: false });
  });

  it("revoking any nonce of the bundle, a discharge's included, prunes the entry and refuses after the next poll", async () => {
    for (const which of ["perm", "discharge"] as const) {
      const w = await world();
      const b = bundle(w, "trusted");
      await seed(w, b);
      appendCaveats(b.draft, new Organization(5n, 1));
      expect((await agree(w, header(b))).cached).toBe(true);
      const tok = which === "perm" ? encodeDraft(b.draft) : (b.discharges[0] as Uint8Array);
      w.authority.revokeId(defaultNonceId(Macaroon.decodeUnverified(tok).nonce as Nonce));
      await w.verifier.poll();
      expect(w.verifier.cache.size).toBe(0);
      expect(await agree(w, header(b))).toEqual({ ok: false, cached: false });
    }
  });
});

describe("headers tkdb reads differently from a plain one", () => {
  it("a malformed token beside the bundle gets tkdb's answer (it ignores them), not a local refusal; a non-macaroon one changes nothing", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    appendCaveats(b.draft, new Organization(5n, 1));
    for (const junk of ["fm2_AAECAwQ=", "fm2_", "fm1r_!!"]) {
      expect(await agree(w, header({ ...b, extra: [junk] }))).toEqual({ ok: true, cached: false });
    }
    expect(await agree(w, header({ ...b, extra: ["fo1_opaque"] }))).toEqual({ ok: true, cached: true });
  });

  it("a second permission token gets tkdb's answer (it uses the first), not a local refusal", async () => {
    const w = await world();
    const b = bundle(w, "trusted");
    await seed(w, b);
    const other = tokenString(w.authority.mint().encode());
    expect(await agree(w, header({ ...b, extra: [other] }))).toEqual({ ok: true, cached: false });
    const first = headerOf([other, tokenString(encodeDraft(b.draft)), ...b.discharges.map(tokenString)]);
    expect((await agree(w, first)).cached).toBe(false);
  });
});

// ---- every class mixed: a differential property over generated bundles ------------------------

type CavSpec =
  | { k: "first" | "attest" | "unknown" | "dup"; i: number }
  | { k: "3p"; discharged: boolean; trusted: boolean }
  | { k: "bind"; toParent: boolean };
type Step =
  | { k: "append"; cavs: CavSpec[] }
  | { k: "swap"; i: number; j: number }
  | { k: "flip"; target: "perm" | "discharge"; pos: number; bit: number }
  | { k: "dis"; op: "drop" | "dup" | "reverse" | "junk" | "secondPerm" | "foreign" | "rival" }
  | { k: "revoke"; which: "perm" | "discharge" };

const cavSpec: fc.Arbitrary<CavSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.nat().map((i) => ({ k: "first" as const, i })) },
  { weight: 1, arbitrary: fc.nat().map((i) => ({ k: "attest" as const, i })) },
  { weight: 1, arbitrary: fc.nat().map((i) => ({ k: "unknown" as const, i })) },
  { weight: 1, arbitrary: fc.nat().map((i) => ({ k: "dup" as const, i })) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("3p" as const), discharged: fc.boolean(), trusted: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.boolean().map((toParent) => ({ k: "bind" as const, toParent })) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(cavSpec, { minLength: 1, maxLength: 4 })
      .map((cavs) => ({ k: "append" as const, cavs })),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("swap" as const), i: fc.nat(), j: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("flip" as const),
      target: fc.constantFrom("perm" as const, "discharge" as const),
      pos: fc.nat(),
      bit: fc.nat(7),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("dis" as const),
      op: fc.constantFrom(
        "drop" as const,
        "dup" as const,
        "reverse" as const,
        "junk" as const,
        "secondPerm" as const,
        "foreign" as const,
        "rival" as const,
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("revoke" as const),
      which: fc.constantFrom("perm" as const, "discharge" as const),
    }),
  },
);

/** Applies one step; returns the permission token bytes when a flip replaced them. */
async function apply(w: World, b: Bundle, s: Step): Promise<Uint8Array | undefined> {
  switch (s.k) {
    case "append":
      for (const c of s.cavs) {
        if (c.k === "first") {
          const all = firstPartyCaveats(NOW_S);
          appendCaveats(b.draft, all[c.i % all.length] as Caveat);
        } else if (c.k === "attest") {
          const all = attestations();
          appendCaveats(b.draft, all[c.i % all.length] as Caveat);
        } else if (c.k === "unknown") {
          const all = unknownTypes();
          appendRaw(b.draft, all[c.i % all.length] as Uint8Array);
        } else if (c.k === "dup") {
          appendRaw(b.draft, b.draft.packed[c.i % b.draft.packed.length] as Uint8Array);
        } else if (c.k === "3p") {
          const used = b.tickets.some((t) => t.location === AUTH2);
          const [ka, location] =
            c.trusted && !used ? [kaAuth2, AUTH2] : [newKey(), `https://tp${b.tickets.length}.test`];
          const ticket = append3P(b.draft, ka, location);
          b.tickets.push({ ka, location, ticket });
          if (c.discharged)
            b.discharges.push(
              discharge(ka, location, ticket, {
                caveats: [new ValidityWindow(NOW_S - 10n, NOW_S + 100n)],
                attestations: [new FlyioUserID(5n)],
              }),
            );
        } else {
          const id = "toParent" in c && c.toParent ? tailOf(b.draft).slice(0, 16) : newKey().slice(0, 16);
          appendRaw(b.draft, unknownCaveat(12n, Uint8Array.of(0xc4, 16, ...id)));
        }
      }
      return undefined;
    case "swap": {
      const p = b.draft.packed;
      const i = s.i % p.length;
      const j = s.j % p.length;
      [p[i], p[j]] = [p[j] as Uint8Array, p[i] as Uint8Array];
      return undefined;
    }
    case "flip":
      if (s.target === "perm" || b.discharges.length === 0)
        return flipBit(encodeDraft(b.draft), s.pos, s.bit);
      b.discharges[0] = flipBit(b.discharges[0] as Uint8Array, s.pos, s.bit);
      return undefined;
    case "dis": {
      const d = b.discharges;
      if (s.op === "drop") d.pop();
      else if (s.op === "dup" && d[0]) d.push(d[0]);
      else if (s.op === "reverse") d.reverse();
      else if (s.op === "junk") b.extra.push("fm2_AAECAwQ=");
      else if (s.op === "secondPerm") b.extra.push(tokenString(w.authority.mint().encode()));
      else if (s.op === "foreign") {
        const ka = newKey();
        const t = Macaroon.mint({ key: newKey(), kid: Uint8Array.of(9), location: "x" });
        d.push(discharge(ka, "https://f.test", t.add3P(ka, "https://f.test")));
      } else if (s.op === "rival" && b.tickets[0]) {
        const t = b.tickets[0];
        d.unshift(discharge(t.ka, t.location, t.ticket, { caveats: [new Organization(5n, 2)] }));
      }
      return undefined;
    }
    case "revoke": {
      const tok = s.which === "perm" || !b.discharges[0] ? encodeDraft(b.draft) : b.discharges[0];
      try {
        w.authority.revokeId(defaultNonceId(Macaroon.decodeUnverified(tok, { registry: flyRegistry }).nonce));
      } catch {
        return undefined; // a flipped discharge may no longer decode
      }
      await w.verifier.poll();
      return undefined;
    }
  }
}

describe("differential: the cache against tkdb's answer over generated bundles", () => {
  it("for every generated attenuation, reorder, byte flip, discharge change and revocation, the cache's verdict and caveats equal the authority's", async () => {
    let hits = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Shape>("plain", "trusted", "untrusted", "bound"),
        fc.array(step, { minLength: 1, maxLength: 3 }),
        async (shape, steps) => {
          const w = await world();
          const b = bundle(w, shape);
          await seed(w, b);
          let perm: Uint8Array | undefined;
          for (const s of steps) perm = (await apply(w, b, s)) ?? perm;
          const h = header(b, perm);
          // Twice: the second call may be answered by the entry the first one cached.
          for (let i = 0; i < 2; i++) {
            const r = await agree(w, h);
            if (r.cached) hits++;
            if (r.ok) accepted++;
          }
        },
      ),
      { numRuns: 300, seed: 12_3 },
    );
    // The generator reaches both sides: local accepts, and tkdb's own accepts and refusals.
    expect(hits).toBeGreaterThan(50);
    expect(accepted).toBeGreaterThan(100);
  });
});
