/** Small helpers shared by the caveat definitions: exact-length arrays and codec objects. */
import {
  type Caveat,
  type CaveatCodec,
  type CaveatRegistry,
  jsonInteger,
  jsonObject,
  MsgpackError,
  type MsgpackReader,
} from "@tkdb/macaroon";

export const U64_MAX = (1n << 64n) - 1n;

export function expectArray(r: MsgpackReader, n: number, what: string): void {
  const at = r.offset;
  const got = r.array();
  if (got !== n)
    throw new MsgpackError("msgpack_unexpected_type", `${what}: expected ${n} fields, got ${got}`, at);
}

export function u64JSON(v: unknown, what: string): bigint {
  return jsonInteger(v, what, 0n, U64_MAX);
}

export function defineCodec(
  type: bigint,
  name: string,
  decodeBody: (r: MsgpackReader, reg: CaveatRegistry) => Caveat,
  fromJSON: (body: unknown, reg: CaveatRegistry) => Caveat,
  opts: { aliases?: readonly string[]; isAttestation?: boolean } = {},
): CaveatCodec {
  return Object.freeze({ type, name, decodeBody, fromJSON, ...opts });
}

/** A caveat whose body is one bare uint64 (Go `type X uint64`). */
export function bareUintCodec(
  type: bigint,
  name: string,
  make: (v: bigint) => Caveat,
  opts: { isAttestation?: boolean } = {},
): CaveatCodec {
  return defineCodec(
    type,
    name,
    (r) => make(r.uint()),
    (b) => make(u64JSON(b, name)),
    opts,
  );
}

/** A caveat whose body is a one-field struct holding a uint64 (Go `struct { ID uint64 }`). */
export function structUintCodec(
  type: bigint,
  name: string,
  jsonField: string,
  make: (v: bigint) => Caveat,
): CaveatCodec {
  return defineCodec(
    type,
    name,
    (r) => {
      expectArray(r, 1, name);
      return make(r.uint());
    },
    (b) => make(u64JSON(jsonObject(b, name)[jsonField], `${name}.${jsonField}`)),
  );
}
