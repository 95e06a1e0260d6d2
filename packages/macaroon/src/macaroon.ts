/**
 * Fly.io's Macaroon (superfly/macaroon `macaroon.go`, `cid.go`):
 *
 *   token  = msgpack([Nonce, Location str, CaveatSet, Tail bin(32)])
 *   tail_0 = HMAC(rootKey, msgpack(nonce))
 *   tail_i+1 = HMAC(tail_i, 0x92 <type_i> <body_i>)
 *   Tail   = proof ? HMAC("proof-signature-finalization", tail_n) : tail_n
 *
 * A decoded macaroon is NOT verified: its caveats are `unsafeCaveats` until
 * `verify()` returns them.
 */
import {
  BindToParentToken,
  type Caveat,
  Caveat3P,
  type CaveatRegistry,
  caveatSetToJSON,
  coreRegistry,
  decodeCaveatSetPacked,
  packCaveat,
  writeCaveatSet,
  writePackedCaveatSet,
} from "./caveat.js";
import {
  type CryptoBackend,
  defaultBackend,
  digest,
  equalSecret,
  finalizeSignature,
  sign,
} from "./crypto.js";
import { base64Decode, base64Encode, bytesEqual, bytesKey } from "./encoding.js";
import {
  CaveatError,
  CryptoError,
  FormatError,
  LimitError,
  MacaroonError,
  MsgpackError,
  VerificationError,
  type VerificationErrorCode,
} from "./errors.js";
import { caveatSetGoValue, stringifyGoJSON } from "./gojson.js";
import { type MacaroonLimits, resolveLimits } from "./limits.js";
import { MsgpackReader, MsgpackWriter } from "./msgpack.js";
import { Nonce } from "./nonce.js";

/** `bindingIdLength = sha256.Size / 2`. */
export const BINDING_ID_LENGTH = 16;
export const TOKEN_PREFIXES = ["fm2_", "fm1r_", "fm1a_"] as const;

export interface BackendOption {
  backend?: CryptoBackend;
}

export interface DecodeOptions extends BackendOption {
  registry?: CaveatRegistry;
  limits?: Partial<MacaroonLimits>;
}

export interface MintOptions extends BackendOption {
  /** 32-byte HMAC root key. */
  key: Uint8Array;
  kid: Uint8Array;
  location: string;
  caveats?: readonly Caveat[];
  registry?: CaveatRegistry;
}

export interface VerifyOptions extends BackendOption {
  /** Candidate discharges (encoded bytes or decoded macaroons); matched to 3P caveats by ticket. */
  discharges?: readonly (Uint8Array | Macaroon)[];
  /** Per 3P location, the keys whose discharges' attestations are trusted. */
  trusted3Ps?: ReadonlyMap<string, readonly Uint8Array[]>;
  /** SHA256 of the parent's intermediate tails, when verifying a discharge on its own. */
  parentBindingIds?: readonly Uint8Array[];
  /** Registry used to decode discharges given as bytes (default: this token's). */
  registry?: CaveatRegistry;
  limits?: Partial<MacaroonLimits>;
}

/** Random 32-byte root or 3P key. */
export function newKey(backend: CryptoBackend = defaultBackend): Uint8Array {
  return backend.randomBytes(32);
}

/** The KID convention of Fly's test-vector generator: SHA256(key)[0:16]. */
export function kidForKey(key: Uint8Array, backend: CryptoBackend = defaultBackend): Uint8Array {
  return digest(backend, key).slice(0, 16);
}

function assertKey32(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new CryptoError("bad_key", `${what} must be 32 bytes`);
}

const EMPTY_TRUST: ReadonlyMap<string, readonly Uint8Array[]> = new Map();

/** rn of pending 3P caveats made by `add3P`, never serialized (Go: unexported `rn`). */
const pendingDischargeKeys = new WeakMap<Caveat3P, Uint8Array>();

// Set in Macaroon's static block: module-private access to its internals.
let internalsOf: (m: Macaroon) => { packed: readonly Uint8Array[]; tail: Uint8Array; newProof: boolean };
let newProofMacaroon: (
  kid: Uint8Array,
  location: string,
  key: Uint8Array,
  registry: CaveatRegistry,
  backend: CryptoBackend,
) => Macaroon;

export class Macaroon {
  readonly nonce: Nonce;
  readonly location: string;
  readonly registry: CaveatRegistry;
  readonly backend: CryptoBackend;
  private cavs: Caveat[];
  private packed: Uint8Array[];
  private tail: Uint8Array;
  /** A proof built here and not yet finalized by `encode()`. */
  private newProof: boolean;

  private constructor(
    nonce: Nonce,
    location: string,
    cavs: Caveat[],
    packed: Uint8Array[],
    tail: Uint8Array,
    newProof: boolean,
    registry: CaveatRegistry,
    backend: CryptoBackend,
  ) {
    this.nonce = nonce;
    this.location = location;
    this.cavs = cavs;
    this.packed = packed;
    this.tail = tail;
    this.newProof = newProof;
    this.registry = registry;
    this.backend = backend;
  }

  /** A new token signed with `key` (Go `macaroon.New`). */
  static mint(opts: MintOptions): Macaroon {
    return Macaroon.create(opts, false);
  }

  private static create(opts: MintOptions, isProof: boolean): Macaroon {
    const backend = opts.backend ?? defaultBackend;
    assertKey32(opts.key, "root key");
    if (!(opts.kid instanceof Uint8Array)) throw new CaveatError("bad_argument", "kid must be bytes");
    if (typeof opts.location !== "string") throw new CaveatError("bad_argument", "location must be a string");
    const nonce = Nonce.create(opts.kid, isProof, backend);
    const tail = sign(backend, opts.key, encodeNonce(nonce));
    const m = new Macaroon(
      nonce,
      opts.location,
      [],
      [],
      tail,
      isProof,
      opts.registry ?? coreRegistry,
      backend,
    );
    if (opts.caveats && opts.caveats.length > 0) m.add(...opts.caveats);
    return m;
  }

  /**
   * Parse a token's bytes. The result is NOT verified: do not act on its
   * caveats before `verify()`. Refuses non-canonical encodings.
   */
  static decodeUnverified(bytes: Uint8Array, opts: DecodeOptions = {}): Macaroon {
    const limits = resolveLimits(opts.limits);
    const registry = opts.registry ?? coreRegistry;
    const r = new MsgpackReader(bytes, limits);
    const at = r.offset;
    const n = r.array();
    if (n !== 4) throw new MsgpackError("msgpack_malformed", `macaroon: expected 4 fields, got ${n}`, at);
    const nonce = Nonce.read(r);
    const location = r.str();
    const { caveats, packed } = decodeCaveatSetPacked(r, registry);
    const tailAt = r.offset;
    const tail = r.bin();
    if (tail.length !== 32)
      throw new MsgpackError("msgpack_malformed", "macaroon: tail must be 32 bytes", tailAt);
    r.end();
    return new Macaroon(
      nonce,
      location,
      caveats,
      packed,
      tail,
      false,
      registry,
      opts.backend ?? defaultBackend,
    );
  }

  /** Parse one `fm2_…` (or legacy `fm1r_`/`fm1a_`) token string. NOT verified. */
  static fromStringUnverified(token: string, opts: DecodeOptions = {}): Macaroon {
    return Macaroon.decodeUnverified(tokenStringToBytes(token, resolveLimits(opts.limits)), opts);
  }

  /** The caveats as written in the token, NOT verified. Use `verify()` to get caveats you may act on. */
  get unsafeCaveats(): readonly Caveat[] {
    return this.cavs;
  }

  /** True for proofs (discharges). */
  get isProof(): boolean {
    return this.nonce.proof;
  }

  /**
   * The current tail: the secret that lets anyone holding it extend or (for
   * a proof before finalization) complete the token. Never log it.
   */
  unsafeTail(): Uint8Array {
    return this.tail.slice();
  }

  /**
   * Third-party tickets by location (public data; Go `AllThirdPartyTickets`),
   * leaving out tickets already discharged by one of `existingDischarges`
   * (matched by the discharge's nonce KID, which is its ticket; discharges
   * that do not parse are ignored, as in Go). A location maps to a list:
   * `add` allows one 3P caveat per location, but a decoded token may hold more.
   */
  thirdPartyTickets(existingDischarges: readonly (Uint8Array | Macaroon)[] = []): Map<string, Uint8Array[]> {
    const discharged = dischargedTickets(existingDischarges);
    const out = new Map<string, Uint8Array[]>();
    for (const c of this.cavs) {
      if (c instanceof Caveat3P && !discharged.has(bytesKey(c.ticket))) {
        const l = out.get(c.location) ?? [];
        l.push(c.ticket.slice());
        out.set(c.location, l);
      }
    }
    return out;
  }

  /** The undischarged tickets for one 3P location (Go `TicketsForThirdParty`); [] if none. */
  ticketsForThirdParty(
    location: string,
    existingDischarges: readonly (Uint8Array | Macaroon)[] = [],
  ): Uint8Array[] {
    return this.thirdPartyTickets(existingDischarges).get(location) ?? [];
  }

  /**
   * Attenuate (Go `Macaroon.Add`). Caveats whose packed bytes equal an
   * existing or earlier one are skipped. Refuses (and changes nothing) on: a
   * finalized proof, an attestation on a non-proof, a second 3P caveat for a
   * location, or a Caveat3P not made by `add3P`.
   */
  add(...caveats: Caveat[]): this {
    if (this.nonce.proof && !this.newProof) {
      throw new CaveatError("finalized_proof", "can't add caveats to finalized proof");
    }
    const seen = new Set<string>();
    for (const p of this.packed) seen.add(bytesKey(p));
    const seen3P = new Set<string>();
    for (const c of this.cavs) if (c instanceof Caveat3P) seen3P.add(c.location);

    // Validate everything first so a refused call leaves the token unchanged.
    const todo: { cav: Caveat; packed: Uint8Array | undefined; rn: Uint8Array | undefined }[] = [];
    for (const cav of caveats) {
      if (cav.isAttestation === true && !this.nonce.proof) {
        throw new CaveatError("attestation_not_allowed", "cannot add attestations to non-proof macaroons");
      }
      if (cav instanceof Caveat3P) {
        const rn = pendingDischargeKeys.get(cav);
        if (rn === undefined) throw new CaveatError("bad_argument", "add third-party caveats with add3P");
        if (seen3P.has(cav.location)) {
          throw new CaveatError(
            "duplicate_3p_location",
            `attempting to add multiple 3ps for ${cav.location}`,
          );
        }
        seen3P.add(cav.location);
        todo.push({ cav, packed: undefined, rn });
        continue;
      }
      const p = packCaveat(cav);
      const k = bytesKey(p);
      if (seen.has(k)) continue;
      seen.add(k);
      todo.push({ cav, packed: p, rn: undefined });
    }

    for (const t of todo) {
      let cav = t.cav;
      let p = t.packed;
      if (t.rn !== undefined && cav instanceof Caveat3P) {
        // Copy, then VerifierKey = seal(tail_before_this_caveat, rn): the MAC covers it (reference §4.1).
        pendingDischargeKeys.delete(cav);
        cav = new Caveat3P(cav.location, this.backend.seal(this.tail, t.rn), cav.ticket.slice());
        p = packCaveat(cav);
      }
      if (p === undefined) continue;
      this.cavs.push(cav);
      this.packed.push(p);
      this.tail = sign(this.backend, this.tail, p);
    }
    return this;
  }

  /**
   * Add a third-party caveat for `location` (Go `Add3P`): a fresh discharge
   * key rn, `Ticket = seal(ka, msgpack([rn, caveats]))`, and
   * `VerifierKey = seal(tail, rn)`. Returns the ticket.
   */
  add3P(ka: Uint8Array, location: string, caveats: readonly Caveat[] = []): Uint8Array {
    assertKey32(ka, "third-party key");
    const rn = this.backend.randomBytes(32);
    const w = new MsgpackWriter();
    w.array(2).bin(rn);
    writeCaveatSet(w, caveats);
    const ticket = this.backend.seal(ka, w.finish());
    const cav = new Caveat3P(location, new Uint8Array(0), ticket);
    pendingDischargeKeys.set(cav, rn);
    this.add(cav);
    return ticket.slice();
  }

  /**
   * Bind this discharge to its parent token (Go `Macaroon.Bind(parent []byte)`):
   * `parentToken` is the ENCODED parent token (its bytes, or its `fm2_…`
   * string), never its tail. Adds `BindToParentToken(SHA256(parentTail)[0:16])`;
   * the discharge then only verifies with that parent version or later
   * attenuations of it. Attenuate the parent first: caveats added to the
   * parent after binding are fine, but the binding names this version.
   * Must be done before the proof is encoded.
   */
  bind(parentToken: Uint8Array | string): this {
    let parent: Macaroon;
    if (typeof parentToken === "string") {
      parent = Macaroon.fromStringUnverified(parentToken, { registry: this.registry, backend: this.backend });
    } else if (parentToken instanceof Uint8Array) {
      parent = Macaroon.decodeUnverified(parentToken, { registry: this.registry, backend: this.backend });
    } else {
      throw new CaveatError("bad_argument", "bind takes the encoded parent token (bytes or fm2_ string)");
    }
    return this.bindToParentMacaroon(parent);
  }

  /** Bind to a parsed parent token (Go `Macaroon.BindToParentMacaroon`). See `bind`. */
  bindToParentMacaroon(parent: Macaroon): this {
    if (!(parent instanceof Macaroon)) {
      throw new CaveatError(
        "bad_argument",
        "bindToParentMacaroon takes a Macaroon; use bind(tokenBytes) for an encoded token",
      );
    }
    return this.bindToParentTail(parent.tail);
  }

  /**
   * Bind to a parent given by its raw 32-byte tail (`unsafeTail()`), not its
   * token bytes (for those use `bind`). No Go equivalent; refuses anything
   * that is not exactly 32 bytes, so encoded token bytes cannot be passed here
   * by mistake.
   */
  bindToParentTail(parentTail: Uint8Array): this {
    if (!(parentTail instanceof Uint8Array) || parentTail.length !== 32) {
      throw new CaveatError(
        "bad_argument",
        "bindToParentTail takes the parent's 32-byte tail; use bind(tokenBytes) for an encoded token",
      );
    }
    return this.add(new BindToParentToken(digest(this.backend, parentTail).slice(0, BINDING_ID_LENGTH)));
  }

  /**
   * @deprecated Use `bindToParentMacaroon(parent)` (same thing), `bind(tokenBytes)`
   * (Go `Bind`) or `bindToParentTail(tail)`. Takes only a Macaroon: bytes are
   * refused, since they could be read as either a tail or a token.
   */
  bindToParent(parent: Macaroon): this {
    if (!(parent instanceof Macaroon)) {
      throw new CaveatError(
        "bad_argument",
        "bindToParent takes a Macaroon; use bind(tokenBytes) for an encoded token or bindToParentTail(tail)",
      );
    }
    return this.bindToParentMacaroon(parent);
  }

  /** Encode (Go `Encode`): finalizes a new proof once; after that it cannot be attenuated. */
  encode(): Uint8Array {
    if (this.nonce.proof && this.newProof) {
      this.tail = finalizeSignature(this.backend, this.tail);
      this.newProof = false;
    }
    let size = 64 + this.nonce.kid.length + this.location.length * 3;
    for (const p of this.packed) size += p.length;
    const w = new MsgpackWriter(size);
    w.array(4);
    this.nonce.write(w);
    w.str(this.location);
    writePackedCaveatSet(w, this.packed);
    w.bin(this.tail);
    return w.finish();
  }

  /** `fm2_` + standard padded base64 of `encode()`: the bearer token itself. */
  toString(): string {
    return `fm2_${base64Encode(this.encode())}`;
  }

  /** Same as toString(): the `fm2_…` token string (a bearer secret). */
  toTokenString(): string {
    return this.toString();
  }

  /** Go's macaroon JSON form `{"location", "caveats"}` (nonce and tail left out). */
  toJSON(): { location: string; caveats: { type: string; body: unknown }[] } {
    return { location: this.location, caveats: caveatSetToJSON(this.cavs, this.registry) };
  }

  /**
   * Go `json.Marshal(macaroon)` byte for byte: `{"location":…,"caveats":…}`
   * (nonce and tail are `json:"-"`). See `caveatSetToGoJSON`.
   */
  toGoJSON(): string {
    return stringifyGoJSON({ location: this.location, caveats: caveatSetGoValue(this.cavs, this.registry) });
  }

  /** Keep tails out of console.log / util.inspect. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Macaroon { location: ${JSON.stringify(this.location)}, caveats: ${this.cavs.length}, proof: ${this.nonce.proof} }`;
  }

  /** Deep copy (Go `Clone`): encode then decode. A new proof gets finalized by this. */
  clone(): Macaroon {
    return Macaroon.decodeUnverified(this.encode(), { registry: this.registry, backend: this.backend });
  }

  /**
   * Verify the signature chain with the root `key` and the discharges, and
   * return the caveats to check against a request (Go `Macaroon.Verify`,
   * reference §4.3). The result never holds 3P or bind caveats; it holds
   * discharges' first-party caveats, and their attestations only when a
   * `trusted3Ps` key for the discharge's location opens its ticket.
   */
  verify(key: Uint8Array, opts: VerifyOptions = {}): Caveat[] {
    assertKey32(key, "root key");
    const backend = opts.backend ?? this.backend;
    const limits = resolveLimits(opts.limits);
    const discharges = opts.discharges ?? [];
    if (discharges.length > limits.maxDischarges) {
      throw new LimitError(
        "maxDischarges",
        limits.maxDischarges,
        `${discharges.length} discharges exceed ${limits.maxDischarges}`,
      );
    }
    const byTicket = new Map<string, { m: Macaroon; index: number }[]>();
    if (discharges.length > 0)
      discharges.forEach((d, index) => {
        let m: Macaroon;
        if (d instanceof Macaroon) {
          m = d;
        } else {
          try {
            m = Macaroon.decodeUnverified(d, {
              registry: opts.registry ?? this.registry,
              limits: opts.limits,
              backend,
            });
          } catch {
            return; // Go: malformed discharges are ignored
          }
        }
        const k = bytesKey(m.nonce.kid);
        const list = byTicket.get(k) ?? [];
        list.push({ m, index });
        byTicket.set(k, list);
      });
    return verifyChain(this, key, {
      backend,
      byTicket,
      parentIds: () => opts.parentBindingIds ?? [],
      trustAttestations: true,
      trusted3Ps: opts.trusted3Ps ?? EMPTY_TRUST,
      nested: false,
      registry: opts.registry ?? this.registry,
    });
  }

  // Module-private access for verifyChain and dischargeTicket (not on the public surface).
  static {
    internalsOf = (m) => ({ packed: m.packed, tail: m.tail, newProof: m.newProof });
    newProofMacaroon = (kid, location, key, registry, backend) =>
      Macaroon.create({ kid, location, key, registry, backend }, true);
  }
}

function encodeNonce(n: Nonce): Uint8Array {
  return n.encode();
}

interface ChainContext {
  backend: CryptoBackend;
  byTicket: Map<string, { m: Macaroon; index: number }[]>;
  /** The parent's binding IDs, computed only when a bind caveat asks for them. */
  parentIds: () => readonly Uint8Array[];
  trustAttestations: boolean;
  trusted3Ps: ReadonlyMap<string, readonly Uint8Array[]>;
  /** Verifying a discharge: 3P caveats cannot be discharged (no nesting). */
  nested: boolean;
  registry: CaveatRegistry;
}

/**
 * The one long function: Go's `Macaroon.verify`. Walks the HMAC chain over
 * the caveats' canonical wire bytes, checks bind caveats against the parent's
 * binding IDs, then verifies each 3P caveat's discharges (any matching
 * candidate may succeed) and finally compares the tail in constant time.
 *
 * Unlike Go, the tail is compared before any discharge is examined, so a
 * forged token never reaches the discharge code (same accept set).
 */
function verifyChain(m: Macaroon, key: Uint8Array, ctx: ChainContext): Caveat[] {
  const { backend } = ctx;
  const { packed, tail, newProof } = internalsOf(m);
  if (m.nonce.proof && newProof)
    throw new VerificationError("unfinalized_proof", "can't verify unfinalized proof");
  const cavs = m.unsafeCaveats;

  let mac = sign(backend, key, encodeNonce(m.nonce));
  // Binding IDs (SHA256 of every intermediate tail) are only consumed by bind
  // caveats in this token's discharges: keep the tails, hash them on demand.
  const wantIds = cavs.some((c) => c instanceof Caveat3P);
  const tails: Uint8Array[] = wantIds ? [mac] : [];
  let bindingIds: Uint8Array[] | undefined;
  const getBindingIds = (): readonly Uint8Array[] => {
    bindingIds ??= tails.map((t) => digest(backend, t));
    return bindingIds;
  };
  const out: Caveat[] = [];
  const pending: { cav: Caveat3P; index: number; macBefore: Uint8Array }[] = [];

  for (let i = 0; i < cavs.length; i++) {
    const c = cavs[i] as Caveat;
    if (c instanceof Caveat3P) {
      pending.push({ cav: c, index: i, macBefore: mac });
    } else if (c instanceof BindToParentToken) {
      if (!ctx.parentIds().some((id) => hasPrefix(id, c.bindingId))) {
        throw new VerificationError("bound_to_other_parent", "discharge bound to different parent token", {
          caveatIndex: i,
        });
      }
    } else {
      if (c.isAttestation === true && !m.nonce.proof) {
        throw new VerificationError("attestation_in_non_proof", "attestation in non-proof macaroon", {
          caveatIndex: i,
        });
      }
      if (c.isAttestation !== true || ctx.trustAttestations) out.push(c);
    }
    mac = sign(backend, mac, packed[i] as Uint8Array);
    if (wantIds) tails.push(mac);
  }

  const expected = m.nonce.proof ? finalizeSignature(backend, mac) : mac;
  if (!equalSecret(backend, expected, tail))
    throw new VerificationError("bad_signature", "macaroon verify: invalid signature");

  for (const p of pending) {
    const candidates = ctx.nested ? undefined : ctx.byTicket.get(bytesKey(p.cav.ticket));
    if (candidates === undefined || candidates.length === 0) {
      throw ctx.nested
        ? new VerificationError("nested_third_party", "third-party caveats in discharges are not supported", {
            caveatIndex: p.index,
          })
        : new VerificationError(
            "no_matching_discharge",
            `no matching discharge token for ${p.cav.location}`,
            {
              caveatIndex: p.index,
            },
          );
    }
    let dk: Uint8Array;
    try {
      dk = backend.unseal(p.macBefore, p.cav.verifierKey);
    } catch {
      throw new VerificationError("bad_verifier_key", "unseal VerifierKey for third-party caveat failed", {
        caveatIndex: p.index,
      });
    }
    const reasons: VerificationError[] = [];
    let done = false;
    for (const { m: dm, index } of candidates) {
      const trust = dischargeTrust(dm, dk, ctx);
      if (trust instanceof VerificationError) {
        reasons.push(trust);
        continue;
      }
      try {
        const dcavs = verifyChain(dm, dk, {
          ...ctx,
          byTicket: new Map(),
          parentIds: getBindingIds,
          trustAttestations: ctx.trustAttestations && trust,
          nested: true,
        });
        out.push(...dcavs);
        done = true;
        break;
      } catch (e) {
        if (!(e instanceof MacaroonError)) throw e;
        reasons.push(
          e instanceof VerificationError
            ? new VerificationError(e.code as VerificationErrorCode, e.message, {
                dischargeIndex: index,
                ...(e.caveatIndex !== undefined ? { caveatIndex: e.caveatIndex } : {}),
              })
            : new VerificationError("discharge_failed", e.message, { dischargeIndex: index }),
        );
      }
    }
    if (!done) {
      throw new VerificationError(
        "discharge_failed",
        `no valid discharge for third-party caveat at ${p.cav.location}`,
        {
          caveatIndex: p.index,
          reasons,
          ...(reasons.length === 1 && reasons[0]?.dischargeIndex !== undefined
            ? { dischargeIndex: reasons[0].dischargeIndex }
            : {}),
        },
      );
    }
  }
  return out;
}

/**
 * Whether a discharge's attestations may be trusted: some key in
 * trusted3Ps[location] opens its KID (the ticket) and the ticket's discharge
 * key equals the one recovered from the VerifierKey. A ticket that opens but
 * is malformed or carries another key disqualifies the discharge (Go skips it).
 */
function dischargeTrust(dm: Macaroon, dk: Uint8Array, ctx: ChainContext): boolean | VerificationError {
  for (const ka of ctx.trusted3Ps.get(dm.location) ?? []) {
    let plain: Uint8Array;
    try {
      plain = ctx.backend.unseal(ka, dm.nonce.kid);
    } catch {
      continue;
    }
    let ticketKey: Uint8Array;
    try {
      ticketKey = decodeWireTicket(plain, ctx.registry).dischargeKey;
    } catch {
      return new VerificationError("discharge_failed", "bad ticket in discharge");
    }
    if (!equalSecret(ctx.backend, dk, ticketKey)) {
      return new VerificationError("discharge_failed", "discharge key from ticket/VerifierKey mismatch");
    }
    return true;
  }
  return false;
}

function hasPrefix(id: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.length <= id.length && bytesEqual(id.subarray(0, prefix.length), prefix);
}

/** `wireTicket{DischargeKey []byte, Caveats CaveatSet}` = `[bin rn, caveatset]`. */
function decodeWireTicket(
  plain: Uint8Array,
  registry: CaveatRegistry,
): { dischargeKey: Uint8Array; caveats: Caveat[] } {
  const r = new MsgpackReader(plain, { maxBytes: Math.max(plain.length, 1) });
  const at = r.offset;
  const n = r.array();
  if (n !== 2) throw new MsgpackError("msgpack_malformed", "ticket: expected 2 fields", at);
  const dischargeKey = r.bin();
  const { caveats } = decodeCaveatSetPacked(r, registry);
  r.end();
  if (dischargeKey.length !== 32)
    throw new MsgpackError("msgpack_malformed", "ticket: discharge key must be 32 bytes", at);
  return { dischargeKey, caveats };
}

/**
 * The third party's side (Go `DischargeTicket`, cid.go): open the ticket with
 * `ka`, and return the caveats the 3P MUST check before handing out the
 * discharge, plus a new proof macaroon (KID = ticket, key = rn). Add caveats
 * to it (e.g. a ValidityWindow, attestations), then `encode()`/`toString()`
 * finalizes it.
 */
export function dischargeTicket(
  ka: Uint8Array,
  location: string,
  ticket: Uint8Array,
  opts: { registry?: CaveatRegistry; backend?: CryptoBackend } = {},
): { caveats: Caveat[]; discharge: Macaroon } {
  const backend = opts.backend ?? defaultBackend;
  const registry = opts.registry ?? coreRegistry;
  assertKey32(ka, "third-party key");
  let plain: Uint8Array;
  try {
    plain = backend.unseal(ka, ticket);
  } catch {
    throw new VerificationError("discharge_failed", "cannot open ticket with this third-party key");
  }
  const { dischargeKey, caveats } = decodeWireTicket(plain, registry);
  return { caveats, discharge: newProofMacaroon(ticket.slice(), location, dischargeKey, registry, backend) };
}

/** Ticket bytes (as bytesKey) that these discharges answer: each one's nonce KID. */
function dischargedTickets(discharges: readonly (Uint8Array | Macaroon)[]): Set<string> {
  const out = new Set<string>();
  for (const d of discharges) {
    if (d instanceof Macaroon) {
      out.add(bytesKey(d.nonce.kid));
      continue;
    }
    if (!(d instanceof Uint8Array)) continue;
    try {
      // Go DecodeNonce: only the nonce is read.
      const r = new MsgpackReader(d, resolveLimits());
      if (r.array() < 1) continue;
      out.add(bytesKey(Nonce.read(r).kid));
    } catch {
      // Go ignores discharges whose nonce does not decode.
    }
  }
  return out;
}

/** Decode a token string `fm2_…`/`fm1r_…`/`fm1a_…` into bytes. */
export function tokenStringToBytes(
  token: string,
  limits: Readonly<MacaroonLimits> = resolveLimits(),
): Uint8Array {
  if (token.length > limits.maxHeaderBytes) {
    throw new LimitError(
      "maxHeaderBytes",
      limits.maxHeaderBytes,
      `token of ${token.length} characters exceeds ${limits.maxHeaderBytes}`,
    );
  }
  const us = token.indexOf("_");
  const prefix = us < 0 ? "" : token.slice(0, us + 1);
  if (!(TOKEN_PREFIXES as readonly string[]).includes(prefix)) {
    throw new FormatError("unknown_prefix", "token does not start with fm2_, fm1r_ or fm1a_");
  }
  const raw = base64Decode(token.slice(us + 1), "token");
  if (raw.length === 0) throw new FormatError("blank_token", "blank token");
  return raw;
}
