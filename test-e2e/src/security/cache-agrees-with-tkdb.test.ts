/**
 * Security issue 12 item 3: the client's verification cache accepts exactly the tokens tkdb
 * accepts, and returns the caveats tkdb returns.
 *
 * At bea118d `CachingVerifier` accepted from its cache any descendant of a cached token whose
 * appended caveats were not 3P or bind: an appended attestation (`FlyioUserID`), which tkdb
 * refuses in a permission token, came back as verified; so did unregistered types and integers
 * tkdb's JSON answer cannot carry; descendants of a token with discharges came back with the
 * caveats in another order than tkdb's; and a malformed or second permission token beside a valid
 * bundle was refused locally although tkdb accepts it.
 *
 * The attack and the proof are one differential property against a real tkdb process: a holder
 * (no root key) takes a token tkdb minted (with a trusted or untrusted third-party discharge, bound
 * or not), has the cache verify it once, then presents a generated variant: caveats of every type
 * appended byte by byte (registered first-party ones with small and huge values, attestations,
 * third-party caveats with or without discharges, bind caveats, unknown types, duplicates), caveats
 * reordered, a bit flipped, discharges dropped, duplicated, reordered or rivalled, malformed and
 * extra tokens, and revocations of any nonce in the bundle. For every case the cache's verdict and
 * caveats (as JSON) must equal tkdb's own online answer for the same header, asked directly.
 */
import { join } from "node:path";
import {
  ActionCaveat,
  AllowedRoles,
  AppFeatureSet,
  Apps,
  Clusters,
  Commands,
  ConfineGitHubOrg,
  ConfineGoogleHD,
  ConfineOrganization,
  ConfineUser,
  FeatureSet,
  FlyioUserID,
  FlySrc,
  FromMachine,
  flyRegistry,
  GitHubUserID,
  GoogleUserID,
  IsMember,
  IsUser,
  MachineFeatureSet,
  Machines,
  MaxValidity,
  Mutations,
  makeIfPresent,
  Organization,
  ResourceSet,
  SecretOps,
  SecretScope,
  StorageObjects,
  Volumes,
} from "@tkdb/caveats";
import { CachingVerifier, ClientError, NoiseRpc, TkdbClient, UnavailableError } from "@tkdb/client";
import {
  BindToParentToken,
  base64Encode,
  type Caveat,
  caveatSetToJSON,
  defaultBackend,
  dischargeTicket,
  Macaroon,
  MacaroonError,
  MsgpackWriter,
  packCaveat,
  UnregisteredCaveat,
  ValidityWindow,
} from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";

const ORG = 4242;
const AUTH = "https://api.fly.io/aaa/v1"; // trusted by tkdb (TKDB_TP_KEYS)
const AUTH2 = "https://auth2.example/v1"; // trusted too
const kaAuth = key32();
const kaAuth2 = key32();
const B = defaultBackend;

const dir = tempDir("e2e-cache-agrees");
const signer = x25519();
let tkdb: RunningService;
let admin: TkdbClient;
let plain: TkdbClient;
let raw: NoiseRpc;
/** One instant for every clock check in this file (cache and oracle), far from every window edge. */
const NOW_MS = Date.now();
const NOW_S = BigInt(Math.floor(NOW_MS / 1000));

beforeAll(async () => {
  tkdb = await startService(
    "tkdb",
    {
      TKDB_PORT: "0",
      TKDB_DATA_DIR: join(dir.path, "tkdb"),
      TKDB_KEK: hex(key32()),
      TKDB_NOISE_KEY: hex(x25519().secretKey),
      TKDB_SIGN_CLIENTS: hex(signer.publicKey),
      TKDB_TP_KEYS: `${AUTH}=${hex(kaAuth)},${AUTH2}=${hex(kaAuth2)}`,
    },
    60_000,
  );
  const endpoints = [{ url: tkdb.url, serverPublicKey: tkdb.publicKey }];
  admin = new TkdbClient({ endpoints, clientStaticKey: signer, registry: flyRegistry, timeoutMs: 30_000 });
  plain = new TkdbClient({ endpoints, registry: flyRegistry, timeoutMs: 30_000 });
  raw = new NoiseRpc({ endpoints, timeoutMs: 30_000 });
  await admin.orgCreate(ORG);
}, 90_000);

afterAll(async () => {
  await tkdb?.stop();
  dir.remove();
});

// ---- what a holder can write: a token continued byte by byte from its tail ---------------------

interface Draft {
  nonce: Uint8Array;
  location: string;
  packed: Uint8Array[];
  prefixLen: number;
  prefixTail: Uint8Array;
}

const draftOf = (m: Macaroon): Draft => ({
  nonce: m.nonce.encode(),
  location: m.location,
  packed: m.unsafeCaveats.map(packCaveat),
  prefixLen: m.unsafeCaveats.length,
  prefixTail: m.unsafeTail(),
});

function tailOf(d: Draft): Uint8Array {
  let mac = d.prefixTail;
  for (const p of d.packed.slice(d.prefixLen)) mac = B.hmacSha256(mac, p);
  return mac;
}

function encodeDraft(d: Draft): Uint8Array {
  const w = new MsgpackWriter(256);
  w.array(4)
    .raw(d.nonce)
    .str(d.location)
    .array(2 * d.packed.length);
  for (const p of d.packed) w.raw(p.subarray(1));
  return w.bin(tailOf(d)).finish();
}

const unknownPacked = (type: bigint, body: Uint8Array) => packCaveat(new UnregisteredCaveat(type, body));
const tok = (b: Uint8Array) => `fm2_${base64Encode(b)}`;

function append3P(d: Draft, ka: Uint8Array, location: string): Uint8Array {
  const m = Macaroon.decodeUnverified(encodeDraft(d), { registry: flyRegistry });
  const ticket = m.add3P(ka, location);
  d.packed.push(packCaveat(m.unsafeCaveats.at(-1) as Caveat));
  return ticket;
}

function discharge(
  ka: Uint8Array,
  location: string,
  ticket: Uint8Array,
  cavs: Caveat[],
  bindTo?: Uint8Array,
): Uint8Array {
  const { discharge: dm } = dischargeTicket(ka, location, ticket, { registry: flyRegistry });
  dm.add(...cavs);
  if (bindTo) dm.add(new BindToParentToken(B.sha256(bindTo).slice(0, 16)));
  return dm.encode();
}

// ---- generated caveats: every type a holder might append -----------------------------------------

const U64 = (1n << 64n) - 1n;
const id = fc.oneof(
  { weight: 9, arbitrary: fc.bigInt({ min: 0n, max: 1000n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64 }) }, // past 2^53: a string in tkdb's JSON
);
const action = fc.integer({ min: 0, max: 0x1f });
const word = fc.constantFrom("a", "wg", "m1", "s/", "é", "");
const strSet = fc.dictionary(word, action, { maxKeys: 2 });
const window = fc
  .constantFrom([-30n, 600n], [-60n, 60n], [-5000n, -100n], [100n, 5000n], [-600n, 1n << 40n])
  .map(([a, b]) => new ValidityWindow(NOW_S + (a as bigint), NOW_S + (b as bigint)));
const attestation: fc.Arbitrary<Caveat> = fc.oneof(
  id.map((v) => new FlyioUserID(v)),
  id.map((v) => new GitHubUserID(v)),
  id.map((v) => new GoogleUserID(v)),
);
const leaf: fc.Arbitrary<Caveat> = fc.oneof(
  fc.tuple(id, action).map(([i, m]) => new Organization(i, m)),
  strSet.map((d) => new Volumes.Class(ResourceSet.of("string", d))),
  fc.dictionary(id.map(String), action, { maxKeys: 2 }).map((d) => new Apps.Class(ResourceSet.of("uint", d))),
  window,
  strSet.map((d) => new FeatureSet.Class(ResourceSet.of("string", d))),
  fc.array(word, { maxLength: 2 }).map((m) => new Mutations(m)),
  strSet.map((d) => new Machines.Class(ResourceSet.of("string", d))),
  id.map((v) => new ConfineUser(v)),
  id.map((v) => new ConfineOrganization(v)),
  id.map((v) => new IsUser(v)),
  strSet.map((d) => new MachineFeatureSet.Class(ResourceSet.of("string", d))),
  word.map((m) => new FromMachine(m)),
  strSet.map((d) => new Clusters.Class(ResourceSet.of("string", d))),
  word.map((h) => new ConfineGoogleHD(h)),
  id.map((v) => new ConfineGitHubOrg(v)),
  id.map((v) => new MaxValidity(v)),
  fc.constant(new IsMember()),
  action.map((a) => new ActionCaveat(a)),
  fc
    .array(fc.record({ args: fc.array(word, { maxLength: 2 }), exact: fc.boolean() }), { maxLength: 2 })
    .map((c) => new Commands(c)),
  strSet.map((d) => new AppFeatureSet.Class(ResourceSet.of("string", d))),
  fc
    .dictionary(fc.constantFrom("s/", "s/a", "t/"), action, { maxKeys: 2 })
    .map((d) => new StorageObjects.Class(ResourceSet.of("prefix", d))),
  fc.constantFrom(0, 1, 2, 0xffffffff).map((m) => new AllowedRoles(m)),
  fc.tuple(word, word, word).map(([o, a, i]) => new FlySrc(o, a, i)),
  fc.tuple(id, id).map(([o, a]) => new SecretScope(o + 1n > U64 ? o : o + 1n, a)),
  fc.subarray(["set", "unset", "list", "rollback", "resolve"] as const).map((o) => new SecretOps(o)),
);
/** Registered first-party caveats, IfPresent wrapping any of them or an attestation included. */
const firstParty: fc.Arbitrary<Caveat> = fc.oneof(
  { weight: 6, arbitrary: leaf },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(fc.oneof(leaf, attestation), { maxLength: 2 }), action)
      .map(([ifs, e]) => makeIfPresent(ifs, e, flyRegistry)),
  },
);
const unknownType = fc
  .oneof(fc.constantFrom(1n, 17n, 18n), fc.bigInt({ min: 1n << 32n, max: U64 - 1n }))
  .filter((t) => flyRegistry.get(t) === undefined);
const msgpackBody = fc.constantFrom(
  Uint8Array.of(0x90),
  Uint8Array.of(0x01),
  Uint8Array.of(0xa1, 0x78),
  Uint8Array.of(0x92, 0x01, 0xc0),
);

type CavSpec =
  | { k: "first"; c: Caveat }
  | { k: "attest"; c: Caveat }
  | { k: "unknown"; type: bigint; body: Uint8Array }
  | { k: "dup"; i: number }
  | { k: "3p"; discharged: boolean; trusted: boolean; attest: boolean }
  | { k: "bind"; toParent: boolean };
type Step =
  | { k: "append"; cavs: CavSpec[] }
  | { k: "swap"; i: number; j: number }
  | { k: "flip"; target: "perm" | "discharge"; pos: number; bit: number }
  | { k: "dis"; op: "drop" | "dup" | "reverse" | "junk" | "secondPerm" | "foreign" | "rival" }
  | { k: "revoke"; which: "perm" | "discharge" };

const cavSpec: fc.Arbitrary<CavSpec> = fc.oneof(
  { weight: 14, arbitrary: firstParty.map((c) => ({ k: "first" as const, c })) },
  { weight: 2, arbitrary: attestation.map((c) => ({ k: "attest" as const, c })) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("unknown" as const), type: unknownType, body: msgpackBody }),
  },
  { weight: 1, arbitrary: fc.nat().map((i) => ({ k: "dup" as const, i })) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("3p" as const),
      discharged: fc.boolean(),
      trusted: fc.boolean(),
      attest: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.boolean().map((toParent) => ({ k: "bind" as const, toParent })) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
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
type Shape = "plain" | "trusted" | "untrusted" | "bound";

// ---- a holder's bundle, and the steps that change it ---------------------------------------------

interface Bundle {
  draft: Draft;
  discharges: Uint8Array[];
  tickets: { ka: Uint8Array; location: string; ticket: Uint8Array }[];
  extra: string[];
  perm?: Uint8Array; // set when a flip replaced the permission token's bytes
}

async function mint(): Promise<Macaroon> {
  const { token } = await admin.mint(ORG, [
    { type: "Organization", body: { id: ORG, mask: "rwcdC" } },
    { type: "ValidityWindow", body: { not_before: Number(NOW_S) - 60, not_after: Number(NOW_S) + 3600 } },
  ]);
  return Macaroon.fromStringUnverified(token.replace(/^FlyV1 /, ""), { registry: flyRegistry });
}

async function bundle(shape: Shape): Promise<Bundle> {
  const draft = draftOf(await mint());
  if (shape === "plain") return { draft, discharges: [], tickets: [], extra: [] };
  const [ka, location] = shape === "untrusted" ? [key32(), "https://holder.example/3p"] : [kaAuth, AUTH];
  const ticket = append3P(draft, ka, location);
  const cavs = [new ValidityWindow(NOW_S - 30n, NOW_S + 300n), new FlyioUserID(77n)];
  const d = discharge(ka, location, ticket, cavs, shape === "bound" ? tailOf(draft) : undefined);
  return { draft, discharges: [d], tickets: [{ ka, location, ticket }], extra: [] };
}

const headerOf = (b: Bundle) =>
  `FlyV1 ${[tok(b.perm ?? encodeDraft(b.draft)), ...b.discharges.map(tok), ...b.extra].join(",")}`;

function append(b: Bundle, c: CavSpec): void {
  const p = b.draft.packed;
  switch (c.k) {
    case "first":
    case "attest":
      p.push(packCaveat(c.c));
      return;
    case "unknown":
      p.push(unknownPacked(c.type, c.body));
      return;
    case "dup":
      p.push(p[c.i % p.length] as Uint8Array);
      return;
    case "bind": {
      const bid = c.toParent ? tailOf(b.draft).slice(0, 16) : key32().slice(0, 16);
      p.push(unknownPacked(12n, Uint8Array.of(0xc4, 16, ...bid)));
      return;
    }
    case "3p": {
      const trusted = c.trusted && !b.tickets.some((t) => t.location === AUTH2);
      const [ka, location] = trusted ? [kaAuth2, AUTH2] : [key32(), `https://tp${b.tickets.length}.example`];
      const ticket = append3P(b.draft, ka, location);
      b.tickets.push({ ka, location, ticket });
      const cavs: Caveat[] = [new ValidityWindow(NOW_S - 10n, NOW_S + 100n)];
      if (c.attest) cavs.push(new FlyioUserID(5n));
      if (c.discharged) b.discharges.push(discharge(ka, location, ticket, cavs));
      return;
    }
  }
}

function flip(bytes: Uint8Array, pos: number, bit: number): Uint8Array {
  const out = bytes.slice();
  const i = pos % out.length;
  out[i] = (out[i] as number) ^ (1 << bit);
  return out;
}

async function apply(b: Bundle, s: Step, verifier: CachingVerifier): Promise<void> {
  const d = b.discharges;
  switch (s.k) {
    case "append":
      for (const c of s.cavs) append(b, c);
      return;
    case "swap": {
      const p = b.draft.packed;
      const [i, j] = [s.i % p.length, s.j % p.length];
      [p[i], p[j]] = [p[j] as Uint8Array, p[i] as Uint8Array];
      return;
    }
    case "flip":
      if (s.target === "discharge" && d[0]) d[0] = flip(d[0], s.pos, s.bit);
      else b.perm = flip(encodeDraft(b.draft), s.pos, s.bit);
      return;
    case "dis":
      if (s.op === "drop") d.pop();
      else if (s.op === "dup" && d[0]) d.push(d[0]);
      else if (s.op === "reverse") d.reverse();
      else if (s.op === "junk") b.extra.push("fm2_AAECAwQ=");
      else if (s.op === "secondPerm") b.extra.push(tok((await mint()).encode()));
      else if (s.op === "foreign") {
        const ka = key32();
        const other = draftOf(await mint());
        d.push(discharge(ka, "https://foreign.example", append3P(other, ka, "https://foreign.example"), []));
      } else if (s.op === "rival" && b.tickets[0]) {
        const t = b.tickets[0];
        d.unshift(discharge(t.ka, t.location, t.ticket, [new Organization(BigInt(ORG), 1)]));
      }
      return;
    case "revoke": {
      const bytes = s.which === "discharge" && d[0] ? d[0] : (b.perm ?? encodeDraft(b.draft));
      let nonce: string;
      try {
        nonce = base64Encode(Macaroon.decodeUnverified(bytes, { registry: flyRegistry }).nonce.encode());
      } catch {
        return; // flipped past decoding: nothing to revoke
      }
      await admin.revoke({ nonce });
      expect(await verifier.poll()).toBe(true);
      return;
    }
  }
}

// ---- the two answers ----------------------------------------------------------------------------

type Verdict = { ok: true; caveats: unknown } | { ok: false };

/** tkdb's integers past 2^53 as its JSON carries them (apps/tkdb `jsonSafe`). */
function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint")
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

const refusal = (e: unknown) =>
  !(e instanceof UnavailableError) &&
  (e instanceof NoiseRemoteError || e instanceof ClientError || e instanceof MacaroonError);

/** With no access named, the verifier checks validity windows against its clock: so does the oracle. */
function windowsHold(cavs: readonly Caveat[]): boolean {
  return cavs.every((c) => !(c instanceof ValidityWindow) || (NOW_S >= c.notBefore && NOW_S <= c.notAfter));
}

/** tkdb's own answer: its raw verify result, read by the plain client, clock checked. */
async function tkdbSays(header: string): Promise<Verdict> {
  let answer: { caveats: unknown };
  try {
    answer = await raw.call<{ caveats: unknown }>("verify", "verify", { header });
  } catch (e) {
    if (refusal(e)) return { ok: false };
    throw e;
  }
  let cavs: Caveat[];
  try {
    cavs = (await plain.verify(header)).caveats;
  } catch (e) {
    if (refusal(e)) return { ok: false }; // tkdb answered caveats the client cannot read
    throw e;
  }
  return windowsHold(cavs) ? { ok: true, caveats: answer.caveats } : { ok: false };
}

async function cacheSays(verifier: CachingVerifier, header: string): Promise<Verdict & { cached?: boolean }> {
  try {
    const r = await verifier.verify(header);
    const caveats = JSON.parse(JSON.stringify(jsonSafe(caveatSetToJSON(r.caveats, flyRegistry))));
    return { ok: true, caveats, cached: r.cached };
  } catch (e) {
    if (refusal(e)) return { ok: false };
    throw e;
  }
}

function newVerifier(): CachingVerifier {
  return new CachingVerifier({
    authority: plain,
    registry: flyRegistry,
    now: () => NOW_MS,
    failClosedAfterMs: 3_600_000,
  });
}

describe("the client cache agrees with tkdb", () => {
  it("the issue's case: a cached token's attenuation that appends a FlyioUserID attestation is refused by the cache, as tkdb refuses it", async () => {
    const verifier = newVerifier();
    expect(await verifier.poll()).toBe(true);
    const b = await bundle("trusted");
    expect(await cacheSays(verifier, headerOf(b))).toMatchObject({ ok: true, cached: false });
    append(b, { k: "attest", c: new FlyioUserID(1n) });
    expect(await tkdbSays(headerOf(b))).toEqual({ ok: false });
    expect(await cacheSays(verifier, headerOf(b))).toEqual({ ok: false });
  });

  it("for generated attenuations (every caveat type, attestations, 3P, bind, unknown types, duplicates, wrong order), byte flips, discharge changes and revocations of cached tokens, the cache's verdict and caveats equal tkdb's online answer", async () => {
    const tally = { cases: 0, hits: 0, accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Shape>("plain", "trusted", "untrusted", "bound"),
        fc.array(step, { minLength: 1, maxLength: 3 }),
        async (shape, steps) => {
          const verifier = newVerifier();
          expect(await verifier.poll()).toBe(true);
          const b = await bundle(shape);
          // The cache learns the holder's token from tkdb, as it would in service.
          const seeded = await cacheSays(verifier, headerOf(b));
          expect(seeded).toMatchObject({ ok: true, cached: false });
          expect(verifier.cache.size).toBe(1);
          for (const s of steps) await apply(b, s, verifier);
          const header = headerOf(b);
          const want = await tkdbSays(header);
          // Twice: the second call may be answered by the entry the first call cached.
          for (let i = 0; i < 2; i++) {
            const { cached, ...got } = await cacheSays(verifier, header);
            expect(
              got,
              `${shape} ${JSON.stringify(steps, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))}`,
            ).toEqual(want);
            tally.cases++;
            if (cached) tally.hits++;
            if (got.ok) tally.accepted++;
            else tally.refused++;
          }
        },
      ),
      { numRuns: 150, seed: 20_250_312, endOnFailure: true },
    );
    // The generator reaches every side: local accepts, online accepts and refusals.
    expect(tally.hits).toBeGreaterThan(30);
    expect(tally.accepted - tally.hits).toBeGreaterThan(10);
    expect(tally.refused).toBeGreaterThan(30);
  }, 300_000);
});
