/** Small helpers shared by the caveat definitions: exact-length arrays and codec objects. */
import {
  type Caveat,
  type CaveatCodec,
  type CaveatRegistry,
  jsonInteger,
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
