/**
 * Builds what a token holder can build (no root key): attenuations of a token written byte by byte
 * (so duplicates, attestations, bind caveats, unknown types and reorders can be written, which
 * `Macaroon.add` would refuse or skip), third-party caveats with their own discharges, byte flips,
 * and headers with extra, dropped, reordered or malformed tokens. Shared by the cache's tests.
 */
import {
  ActionCaveat,
  ActionRead,
  AllowedRoles,
  Apps,
  Commands,
  ConfineOrganization,
  FeatureSet,
  FlyioUserID,
  FlySrc,
  FromMachine,
  flyRegistry,
  GitHubUserID,
  GoogleUserID,
  IsMember,
  IsUser,
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
import {
  BindToParentToken,
  base64Encode,
  type Caveat,
  defaultBackend,
  dischargeTicket,
  Macaroon,
  MsgpackWriter,
  newKey,
  packCaveat,
  UnregisteredCaveat,
  ValidityWindow,
} from "@tkdb/macaroon";

const B = defaultBackend;

/** A permission token as its holder sees it: the minted prefix, its tail, and what was appended. */
export interface Draft {
  nonce: Uint8Array;
  location: string;
  /** Packed caveats (`0x92 type body`), prefix then appended. */
  packed: Uint8Array[];
  /** How many leading entries the tail below covers. */
  prefixLen: number;
  prefixTail: Uint8Array;
}

export function draftOf(m: Macaroon): Draft {
  return {
    nonce: m.nonce.encode(),
    location: m.location,
    packed: m.unsafeCaveats.map(packCaveat),
    prefixLen: m.unsafeCaveats.length,
    prefixTail: m.unsafeTail(),
  };
}

/** The holder's tail: the prefix's tail continued over every entry after the prefix. */
export function tailOf(d: Draft): Uint8Array {
  let mac = d.prefixTail;
  for (const p of d.packed.slice(d.prefixLen)) mac = B.hmacSha256(mac, p);
  return mac;
}

export function encodeDraft(d: Draft): Uint8Array {
  const w = new MsgpackWriter(256);
  w.array(4).raw(d.nonce).str(d.location);
  w.array(2 * d.packed.length);
  for (const p of d.packed) w.raw(p.subarray(1));
  w.bin(tailOf(d));
  return w.finish();
}

/** Appends packed caveat bytes as they are: no dedup, no attestation check. */
export function appendRaw(d: Draft, ...packed: Uint8Array[]): void {
  d.packed.push(...packed);
}

export function appendCaveats(d: Draft, ...cavs: Caveat[]): void {
  appendRaw(d, ...cavs.map(packCaveat));
}

/** Packed bytes of a caveat of a type no registry here knows: `0x92 <uint type> <body>`. */
export function unknownCaveat(type: bigint, body: Uint8Array): Uint8Array {
  return packCaveat(new UnregisteredCaveat(type, body));
}

/**
 * Appends a third-party caveat the holder makes for `location` with key `ka` (its ticket asks for
 * `ticketCaveats`); returns the ticket, to discharge later with `discharge`.
 */
export function append3P(
  d: Draft,
  ka: Uint8Array,
  location: string,
  ticketCaveats: Caveat[] = [],
): Uint8Array {
  const m = Macaroon.decodeUnverified(encodeDraft(d), { registry: flyRegistry });
  const ticket = m.add3P(ka, location, ticketCaveats);
  const last = m.unsafeCaveats.at(-1) as Caveat;
  d.packed.push(packCaveat(last));
  return ticket;
}

export interface DischargeSpec {
  caveats?: Caveat[];
  /** Attestations the third party states (kept by tkdb only for a trusted third party). */
  attestations?: Caveat[];
  /** Bind to this parent token version (its tail); `"other"` binds to an unrelated tail. */
  bindTo?: Uint8Array | "other";
}

/** A third party's discharge (a finalized proof) for `ticket`. */
export function discharge(
  ka: Uint8Array,
  location: string,
  ticket: Uint8Array,
  spec: DischargeSpec = {},
): Uint8Array {
  const { discharge: dm } = dischargeTicket(ka, location, ticket, { registry: flyRegistry });
  dm.add(...(spec.caveats ?? []), ...(spec.attestations ?? []));
  if (spec.bindTo !== undefined) {
    const tail = spec.bindTo === "other" ? newKey() : spec.bindTo;
    dm.add(new BindToParentToken(B.sha256(tail).slice(0, 16)));
  }
  return dm.encode();
}

export function flipBit(bytes: Uint8Array, pos: number, bit: number): Uint8Array {
  const out = bytes.slice();
  const i = pos % out.length;
  out[i] = (out[i] as number) ^ (1 << (bit % 8));
  return out;
}

export const tokenString = (b: Uint8Array) => `fm2_${base64Encode(b)}`;
export const headerOf = (tokens: readonly string[]) => `FlyV1 ${tokens.join(",")}`;

// ---- caveats of every kind a holder might append -----------------------------------------------

const TWO_POW_60 = 1n << 60n;

/** Registered first-party caveats of every Fly and petsem type (values small and large). */
export function firstPartyCaveats(nowS: bigint): Caveat[] {
  return [
    new Organization(5n, 0x1f),
    new Organization(TWO_POW_60, 1), // past 2^53: tkdb's JSON carries it as a string
    new Apps.Class(ResourceSet.of("uint", { "7": 3 })),
    new ValidityWindow(nowS - 10n, nowS + 600n),
    new ValidityWindow(0n, nowS - 100n), // expired
    new FeatureSet.Class(ResourceSet.of("string", { wg: 1 })),
    new Mutations(["createApp"]),
    new Machines.Class(ResourceSet.of("string", { m1: 0x1f })),
    new ConfineOrganization(5n),
    new IsUser(42n),
    makeIfPresent([new FeatureSet.Class(ResourceSet.of("string", { builder: 1 }))], ActionRead, flyRegistry),
    makeIfPresent([new FlyioUserID(9n)], ActionRead, flyRegistry), // attestation nested: not top level
    new FromMachine("m1"),
    new MaxValidity(60n),
    new IsMember(),
    new ActionCaveat(1),
    new Commands([{ args: ["ls"], exact: false }]),
    new StorageObjects.Class(ResourceSet.of("prefix", { "s/": 1 })),
    new AllowedRoles(1),
    new FlySrc("o", "a", ""),
    new Volumes.Class(ResourceSet.of("string", { v1: 1 })),
    new SecretScope(5n, 7n),
    new SecretOps(["resolve"]),
  ];
}

/** Attestations: tkdb refuses every one of them in a permission token. */
export const attestations = (): Caveat[] => [new FlyioUserID(1n), new GitHubUserID(2n), new GoogleUserID(3n)];

/** Bodies for types nobody registered (Fly's reserved range and the user-defined one). */
export const unknownTypes = (): Uint8Array[] => [
  unknownCaveat(17n, Uint8Array.of(0x90)),
  unknownCaveat((1n << 48n) + 7n, Uint8Array.of(0x01)),
  unknownCaveat((1n << 32n) + 1n, Uint8Array.of(0xa1, 0x78)),
];
