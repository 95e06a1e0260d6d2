/**
 * Caveats, the caveat registry and caveat sets (superfly/macaroon `caveat.go`,
 * `caveat_set.go`, `caveats.go`).
 *
 * A caveat set on the wire is a *flat* msgpack array `[type0, body0, type1,
 * body1, …]` (reference §1.3). Each caveat is MAC'd as the one-caveat set
 * `0x92 <type> <body>`.
 *
 * Type ranges (reference §5): `< 1<<32` reserved for Fly (core and Fly types
 * are 0–31; `0x10000–0x100ff` is petsem's block), `1<<32 … 1<<48-1`
 * registerable, `1<<48 … 1<<64-2` user-defined, `1<<64-1` "unregistered".
 */
import { base64Decode, base64Encode } from "./encoding.js";
import { CaveatError, LimitError, type MacaroonError, MsgpackError, PermissionError } from "./errors.js";
import { type DecodeLimits, MsgpackReader, MsgpackWriter } from "./msgpack.js";

/** What a request wants to do; caveats decide whether they allow it (Go `macaroon.Access`). */
export interface Access {
  now(): Date;
  /** Throws a MacaroonError subclass if the access itself is malformed. */
  validate(): void;
}

export interface Caveat {
  readonly type: bigint;
  /** Attestations state facts (e.g. a user ID); only proofs (discharges) may carry them. */
  readonly isAttestation?: boolean;
  /** Write the msgpack body (not the type) canonically. */
  encodeBody(w: MsgpackWriter): void;
  /** undefined = this caveat allows the access. */
  prohibits(access: Access): MacaroonError | undefined;
  /** The "body" of Go's JSON form `{"type": name, "body": …}`. */
  bodyJSON(): unknown;
  /**
   * Optional: the body for `caveatSetToGoJSON` when it differs from
   * `bodyJSON()` (a caveat holding a caveat set, like IfPresent, renders it
   * with `caveatSetGoValue`). Mark Go maps in it with `goMap()`.
   */
  bodyGoJSON?(reg: CaveatRegistry): unknown;
}

export interface CaveatCodec {
  readonly type: bigint;
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly isAttestation?: boolean;
  /** Must consume exactly the body. */
  decodeBody(r: MsgpackReader, reg: CaveatRegistry): Caveat;
  /** Throw CaveatError on bad input. */
  fromJSON(body: unknown, reg: CaveatRegistry): Caveat;
}

export const CAV_VALIDITY_WINDOW = 4n;
export const CAV_3P = 11n;
export const CAV_BIND_TO_PARENT = 12n;
/** Go `CavUnregistered` (`1<<64 - 1`). */
export const CAV_UNREGISTERED = (1n << 64n) - 1n;
/** First user-defined type (`1<<48`); JSON names of such types are decimal strings. */
export const CAV_USER_DEFINED_MIN = 1n << 48n;

export class CaveatRegistry {
  private readonly byType = new Map<bigint, CaveatCodec>();
  private readonly names = new Map<string, CaveatCodec>();

  /** Throws CaveatError on a duplicate type, name or alias. */
  register(codec: CaveatCodec): void {
    if (codec.type < 0n || codec.type >= CAV_UNREGISTERED) {
      throw new CaveatError("bad_registration", `caveat type ${codec.type} out of range`);
    }
    if (this.byType.has(codec.type)) {
      throw new CaveatError("duplicate_registration", `caveat type ${codec.type} already registered`);
    }
    const names = [codec.name, ...(codec.aliases ?? [])];
    for (const n of names) {
      if (this.names.has(n))
        throw new CaveatError("duplicate_registration", `caveat name ${n} already registered`);
      if (/^\d+$/.test(n)) throw new CaveatError("bad_registration", `caveat name ${n} must not be a number`);
    }
    this.byType.set(codec.type, codec);
    for (const n of names) this.names.set(n, codec);
  }

  get(type: bigint): CaveatCodec | undefined {
    return this.byType.get(type);
  }

  /** By registered name or JSON alias. */
  byName(name: string): CaveatCodec | undefined {
    return this.names.get(name);
  }

  /** Registered name, else the decimal type number. */
  nameOf(type: bigint): string {
    return this.byType.get(type)?.name ?? type.toString();
  }

  /** A copy of this registry with more codecs registered. */
  extend(...codecs: CaveatCodec[]): CaveatRegistry {
    const out = new CaveatRegistry();
    for (const c of this.byType.values()) out.register(c);
    for (const c of codecs) out.register(c);
    return out;
  }

  codecs(): CaveatCodec[] {
    return [...this.byType.values()];
  }
}

// ---------------------------------------------------------------------------
// JSON parse helpers ("parse, don't poke")

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function jsonObject(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) throw new CaveatError("bad_caveat_json", `${what}: expected an object`);
  return v;
}

/** An integer (number or bigint) within [min, max]. */
export function jsonInteger(v: unknown, what: string, min: bigint, max: bigint): bigint {
  let out: bigint;
  if (typeof v === "bigint") out = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) out = BigInt(v);
  else throw new CaveatError("bad_caveat_json", `${what}: expected an integer`);
  if (out < min || out > max) throw new CaveatError("bad_caveat_json", `${what}: out of range`);
  return out;
}

export function jsonString(v: unknown, what: string): string {
  if (typeof v !== "string") throw new CaveatError("bad_caveat_json", `${what}: expected a string`);
  return v;
}

/** Go encodes []byte in JSON as standard base64; null is an empty slice. */
export function jsonBytes(v: unknown, what: string): Uint8Array {
  if (v === null) return new Uint8Array(0);
  const s = jsonString(v, what);
  try {
    return base64Decode(s, what);
  } catch {
    throw new CaveatError("bad_caveat_json", `${what}: invalid base64`);
  }
}

/** JSON value for an integer: a number when exact, else the bigint (see `stringifyJSON`). */
export function intJSON(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function expectArray(r: MsgpackReader, n: number, what: string): void {
  const at = r.offset;
  const got = r.array();
  if (got !== n)
    throw new MsgpackError("msgpack_unexpected_type", `${what}: expected ${n} fields, got ${got}`, at);
}

// ---------------------------------------------------------------------------
// Core caveats

/** Type 4. The token is valid from NotBefore to NotAfter, Unix seconds, inclusive (Go `ValidityWindow`). */
export class ValidityWindow implements Caveat {
  readonly type = CAV_VALIDITY_WINDOW;
  constructor(
    public notBefore: bigint,
    public notAfter: bigint,
  ) {}

  encodeBody(w: MsgpackWriter): void {
    w.array(2).int(this.notBefore).int(this.notAfter);
  }

  prohibits(access: Access): MacaroonError | undefined {
    const nowMs = BigInt(access.now().getTime());
    // Go compares time.Time values: now.After(Unix(NotAfter)) / now.Before(Unix(NotBefore)).
    if (nowMs > this.notAfter * 1000n) {
      return new PermissionError(`token only valid until ${this.notAfter} (unix)`, {
        caveatType: this.type,
        code: "token_expired",
      });
    }
    if (nowMs < this.notBefore * 1000n) {
      return new PermissionError(`token not valid until ${this.notBefore} (unix)`, {
        caveatType: this.type,
        code: "token_not_yet_valid",
      });
    }
    return undefined;
  }

  bodyJSON(): unknown {
    return { not_before: intJSON(this.notBefore), not_after: intJSON(this.notAfter) };
  }

  /** A window from `now - skew` to `now + ttl`, in whole seconds. */
  static fromNow(ttlSeconds: number, now: Date = new Date(), skewSeconds = 0): ValidityWindow {
    const s = BigInt(Math.floor(now.getTime() / 1000));
    return new ValidityWindow(s - BigInt(skewSeconds), s + BigInt(ttlSeconds));
  }
}

/**
 * Type 11. A third-party caveat: `[Location str, VerifierKey bin, Ticket bin]`
 * (reference §4.1). Its checks happen in verification, never in `prohibits`.
 * Make one with `Macaroon.add3P`.
 */
export class Caveat3P implements Caveat {
  readonly type = CAV_3P;
  constructor(
    public location: string,
    public verifierKey: Uint8Array,
    public ticket: Uint8Array,
  ) {}

  encodeBody(w: MsgpackWriter): void {
    w.array(3).str(this.location).bin(this.verifierKey).bin(this.ticket);
  }

  prohibits(): MacaroonError | undefined {
    return new PermissionError("bad caveat (3rd party caveat)", {
      caveatType: this.type,
      code: "bad_caveat",
    });
  }

  bodyJSON(): unknown {
    return {
      Location: this.location,
      VerifierKey: base64Encode(this.verifierKey),
      Ticket: base64Encode(this.ticket),
    };
  }
}

/**
 * Type 12. In a discharge: a prefix (normally 16 bytes) of SHA256 of one of
 * the parent token's intermediate tails (reference §4.4). Checked in
 * verification, never in `prohibits`.
 */
export class BindToParentToken implements Caveat {
  readonly type = CAV_BIND_TO_PARENT;
  constructor(public bindingId: Uint8Array) {}

  encodeBody(w: MsgpackWriter): void {
    w.bin(this.bindingId);
  }

  prohibits(): MacaroonError | undefined {
    return new PermissionError("bad caveat (bind-to-parent)", { caveatType: this.type, code: "bad_caveat" });
  }

  bodyJSON(): unknown {
    return base64Encode(this.bindingId);
  }
}

/**
 * A caveat of a type the registry does not know. Its body bytes pass through
 * verbatim (so the MAC still verifies), and it always prohibits: an authority
 * must not grant access through a restriction it cannot read.
 */
export class UnregisteredCaveat implements Caveat {
  constructor(
    readonly type: bigint,
    /** The msgpack body bytes, verbatim. */
    readonly raw: Uint8Array,
  ) {}

  encodeBody(w: MsgpackWriter): void {
    w.raw(this.raw);
  }

  prohibits(): MacaroonError | undefined {
    return new PermissionError(`unregistered caveat type ${this.type}`, {
      caveatType: this.type,
      code: "unregistered_caveat",
    });
  }

  /** A generic rendering of the body (Go renders the decoded msgpack value). Not convertible back. */
  bodyJSON(): unknown {
    try {
      const r = new MsgpackReader(this.raw, { maxBytes: Number.MAX_SAFE_INTEGER });
      const v = genericValue(r);
      r.end();
      return v;
    } catch {
      return null;
    }
  }
}

function genericValue(r: MsgpackReader): unknown {
  switch (r.peek()) {
    case "nil":
      r.nil();
      return null;
    case "bool":
      return r.bool();
    case "int": {
      const raw = r.rawValue();
      return intJSON(readAnyInt(raw));
    }
    case "str":
      return rawStr(r);
    case "bin":
      return base64Encode(rawBin(r));
    case "array": {
      const n = r.array();
      const out: unknown[] = [];
      r.descend(() => {
        for (let i = 0; i < n; i++) out.push(genericValue(r));
      });
      return out;
    }
    case "map": {
      const n = r.map();
      const out: Record<string, unknown> = {};
      r.descend(() => {
        for (let i = 0; i < n; i++) {
          const k = genericValue(r);
          out[typeof k === "string" ? k : String(k)] = genericValue(r);
        }
      });
      return out;
    }
    case "float": {
      const raw = r.rawValue();
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return raw[0] === 0xca ? dv.getFloat32(1) : dv.getFloat64(1);
    }
    default:
      r.rawValue();
      return null;
  }
}

/** Read any msgpack int form (lenient; for display only). */
function readAnyInt(raw: Uint8Array): bigint {
  const b = raw[0] as number;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (b <= 0x7f) return BigInt(b);
  if (b >= 0xe0) return BigInt(b - 0x100);
  switch (b) {
    case 0xcc:
      return BigInt(dv.getUint8(1));
    case 0xcd:
      return BigInt(dv.getUint16(1));
    case 0xce:
      return BigInt(dv.getUint32(1));
    case 0xcf:
      return dv.getBigUint64(1);
    case 0xd0:
      return BigInt(dv.getInt8(1));
    case 0xd1:
      return BigInt(dv.getInt16(1));
    case 0xd2:
      return BigInt(dv.getInt32(1));
    default:
      return dv.getBigInt64(1);
  }
}

/** Lenient str/bin read for display of unregistered bodies (which may be non-canonical). */
function rawStr(r: MsgpackReader): string {
  const raw = r.rawValue();
  const b = raw[0] as number;
  const skip = b >= 0xa0 && b <= 0xbf ? 1 : b === 0xd9 ? 2 : b === 0xda ? 3 : 5;
  return new TextDecoder().decode(raw.subarray(skip));
}

function rawBin(r: MsgpackReader): Uint8Array {
  const raw = r.rawValue();
  const b = raw[0] as number;
  return raw.slice(b === 0xc4 ? 2 : b === 0xc5 ? 3 : 5);
}

export const validityWindowCodec: CaveatCodec = {
  type: CAV_VALIDITY_WINDOW,
  name: "ValidityWindow",
  decodeBody(r) {
    expectArray(r, 2, "ValidityWindow");
    return new ValidityWindow(r.int(), r.int());
  },
  fromJSON(body) {
    const o = jsonObject(body, "ValidityWindow");
    return new ValidityWindow(
      jsonInteger(o.not_before ?? 0, "ValidityWindow.not_before", I64_MIN, I64_MAX),
      jsonInteger(o.not_after ?? 0, "ValidityWindow.not_after", I64_MIN, I64_MAX),
    );
  },
};

export const caveat3PCodec: CaveatCodec = {
  type: CAV_3P,
  name: "3P",
  decodeBody(r) {
    expectArray(r, 3, "Caveat3P");
    return new Caveat3P(r.str(), r.bin(), r.bin());
  },
  fromJSON(body) {
    const o = jsonObject(body, "3P");
    return new Caveat3P(
      jsonString(o.Location ?? "", "3P.Location"),
      jsonBytes(o.VerifierKey ?? o.VID ?? null, "3P.VerifierKey"),
      jsonBytes(o.Ticket ?? o.CID ?? null, "3P.Ticket"),
    );
  },
};

export const bindToParentCodec: CaveatCodec = {
  type: CAV_BIND_TO_PARENT,
  name: "BindToParentToken",
  decodeBody(r) {
    return new BindToParentToken(r.bin());
  },
  fromJSON(body) {
    return new BindToParentToken(jsonBytes(body, "BindToParentToken"));
  },
};

/** ValidityWindow (4), Caveat3P (11, JSON name "3P"), BindToParentToken (12). */
export const coreRegistry: CaveatRegistry = new CaveatRegistry();
coreRegistry.register(validityWindowCodec);
coreRegistry.register(caveat3PCodec);
coreRegistry.register(bindToParentCodec);

// ---------------------------------------------------------------------------
// Caveat sets

/** `0x92 <type> <body>`: the bytes MAC'd for one caveat (a one-caveat set). */
export function packCaveat(cav: Caveat): Uint8Array {
  const w = new MsgpackWriter();
  w.array(2).uint(cav.type);
  cav.encodeBody(w);
  return w.finish();
}

/** Flat array `[t0, b0, t1, b1, …]`. */
export function encodeCaveatSet(cavs: readonly Caveat[]): Uint8Array {
  const w = new MsgpackWriter();
  writeCaveatSet(w, cavs);
  return w.finish();
}

export function writeCaveatSet(w: MsgpackWriter, cavs: readonly Caveat[]): void {
  w.array(2 * cavs.length);
  for (const c of cavs) {
    w.uint(c.type);
    c.encodeBody(w);
  }
}

/** Write a caveat set from already-packed caveats (`0x92 <type> <body>` each). */
export function writePackedCaveatSet(w: MsgpackWriter, packed: readonly Uint8Array[]): void {
  w.array(2 * packed.length);
  for (const p of packed) w.raw(p.subarray(1));
}

export interface DecodedCaveatSet {
  caveats: Caveat[];
  /** Per caveat, the canonical wire bytes `0x92 <type> <body>` (what is MAC'd). */
  packed: Uint8Array[];
}

/**
 * Scratch writer for the canonical re-encoding check. It only ever holds
 * public caveat bytes, and each use (reset → write → compare) completes before
 * the next, including nested caveat sets (decoding finishes before the outer
 * caveat is re-encoded). Oversized buffers are dropped after use.
 */
let scratch = new MsgpackWriter(256);
let scratchBusy = false;

function reencodesTo(cav: Caveat, packed: Uint8Array): boolean {
  if (scratchBusy) return packCaveatInto(new MsgpackWriter(packed.length), cav).equals(packed);
  scratchBusy = true;
  try {
    return packCaveatInto(scratch.reset(), cav).equals(packed);
  } finally {
    if (scratch.length > 4096) scratch = new MsgpackWriter(256);
    scratchBusy = false;
  }
}

function packCaveatInto(w: MsgpackWriter, cav: Caveat): MsgpackWriter {
  w.array(2).uint(cav.type);
  cav.encodeBody(w);
  return w;
}

/**
 * Decode a caveat set, keeping each caveat's wire bytes. Unknown types become
 * UnregisteredCaveat. Registered caveats must re-encode to exactly their wire
 * bytes (Go MACs its own re-encoding, so any other form would not verify
 * there), else MsgpackError `msgpack_non_canonical`.
 */
export function decodeCaveatSetPacked(r: MsgpackReader, reg: CaveatRegistry): DecodedCaveatSet {
  return r.descend(() => {
    const at = r.offset;
    const n = r.array();
    if (n % 2 !== 0) throw new MsgpackError("msgpack_malformed", "bad caveat container (odd length)", at);
    if (n / 2 > r.limits.maxCaveats) {
      throw new LimitError(
        "maxCaveats",
        r.limits.maxCaveats,
        `caveat set of ${n / 2} caveats exceeds ${r.limits.maxCaveats}`,
      );
    }
    const caveats: Caveat[] = [];
    const packed: Uint8Array[] = [];
    for (let i = 0; i < n / 2; i++) {
      const typeStart = r.offset;
      const type = r.uint();
      const bodyStart = r.offset;
      const codec = reg.get(type);
      let cav: Caveat;
      if (codec === undefined) {
        cav = new UnregisteredCaveat(type, r.rawValue().slice());
      } else {
        cav = codec.decodeBody(r, reg);
        if (cav.type !== type) {
          throw new MsgpackError(
            "msgpack_malformed",
            `codec for type ${type} returned type ${cav.type}`,
            bodyStart,
          );
        }
      }
      const wire = r.slice(typeStart, r.offset);
      const p = new Uint8Array(1 + wire.length);
      p[0] = 0x92;
      p.set(wire, 1);
      if (codec !== undefined) {
        if (!reencodesTo(cav, p)) {
          throw new MsgpackError(
            "msgpack_non_canonical",
            `caveat ${i} (type ${type}) is not canonically encoded`,
            bodyStart,
          );
        }
      }
      caveats.push(cav);
      packed.push(p);
    }
    return { caveats, packed };
  });
}

/**
 * Decode a caveat set. From bytes: the whole input must be the set. From a
 * reader: reads one set at the reader's position (for nested sets).
 */
export function decodeCaveatSet(
  src: Uint8Array | MsgpackReader,
  reg: CaveatRegistry = coreRegistry,
  limits?: Partial<DecodeLimits>,
): Caveat[] {
  if (src instanceof MsgpackReader) return decodeCaveatSetPacked(src, reg).caveats;
  const r = new MsgpackReader(src, limits);
  const out = decodeCaveatSetPacked(r, reg).caveats;
  r.end();
  return out;
}

/** Go's JSON form `[{"type": name, "body": …}]`. */
export function caveatSetToJSON(
  cavs: readonly Caveat[],
  reg: CaveatRegistry = coreRegistry,
): { type: string; body: unknown }[] {
  return cavs.map((c) => ({ type: reg.nameOf(c.type), body: c.bodyJSON() }));
}

/** Parse Go's JSON form; the type may be a name, an alias or a decimal type number. */
export function caveatSetFromJSON(json: unknown, reg: CaveatRegistry = coreRegistry): Caveat[] {
  if (!Array.isArray(json)) throw new CaveatError("bad_caveat_json", "caveat set: expected an array");
  return json.map((item, i) => {
    const o = jsonObject(item, `caveat ${i}`);
    const t = jsonString(o.type, `caveat ${i}.type`);
    let codec = reg.byName(t);
    if (codec === undefined && /^\d+$/.test(t)) codec = reg.get(BigInt(t));
    if (codec === undefined)
      throw new CaveatError("unknown_caveat_type", `caveat ${i}: unknown caveat type ${JSON.stringify(t)}`);
    if (!("body" in o)) throw new CaveatError("bad_caveat_json", `caveat ${i}: missing body`);
    return codec.fromJSON(o.body, reg);
  });
}

function toMacaroonError(e: unknown, code: string): MacaroonError {
  if (e instanceof Error && "code" in e && typeof (e as MacaroonError).code === "string")
    return e as MacaroonError;
  return new PermissionError(e instanceof Error ? e.message : "invalid access", { code });
}

/**
 * Go `CaveatSet.Validate`: for each access, `access.validate()` then every
 * non-attestation caveat's `prohibits()`. Throws one PermissionError holding
 * every reason. (As in Go, zero accesses means nothing to refuse.)
 */
export function validateCaveats(cavs: readonly Caveat[], ...accesses: Access[]): void {
  const reasons: MacaroonError[] = [];
  for (const access of accesses) {
    try {
      access.validate();
    } catch (e) {
      reasons.push(toMacaroonError(e, "invalid_access"));
      continue;
    }
    for (const c of cavs) {
      if (c.isAttestation === true) continue;
      const err = c.prohibits(access);
      if (err !== undefined) reasons.push(err);
    }
  }
  if (reasons.length === 0) return;
  const only = reasons.length === 1 ? reasons[0] : undefined;
  const caveatType = only instanceof PermissionError ? only.caveatType : undefined;
  throw new PermissionError(reasons.map((r) => r.message).join("; "), {
    reasons,
    ...(only !== undefined ? { code: only.code } : {}),
    ...(caveatType !== undefined ? { caveatType } : {}),
  });
}
