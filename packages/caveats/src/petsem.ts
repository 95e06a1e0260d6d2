/**
 * petsem's caveats, in the block Fly reserves for petsem (`BlockPetsemMin` 0x10000 …
 * `BlockPetsemMax` 0x100ff; superfly/macaroon `caveat.go`). Fly's own numbers in that block are
 * not public; these are ours, documented in this package's README.
 *
 * - 0x10000 SecretOps {ops}: which petsem operations the token may perform (bit set).
 * - 0x10001 SecretScope {org, app}: which organization (and app; 0 = any app of it).
 *
 * Both judge only a PetsemAccess; any other access fails closed. Fly's API caveats given a
 * PetsemAccess fail closed likewise (Go's ErrInvalidAccess), so a Fly permission token cannot be
 * replayed at petsem and a petsem token cannot be used at Fly's API.
 */
import {
  type Access,
  type Caveat,
  CaveatError,
  jsonObject,
  type MacaroonError,
  type MsgpackWriter,
} from "@tkdb/macaroon";
import { PetsemAccess, SecretOp, type SecretOpName } from "./access.js";
import { defineCodec, expectArray, u64JSON } from "./codec.js";
import { deny, INVALID_ACCESS, UNAUTHORIZED_FOR_ACTION, UNAUTHORIZED_FOR_RESOURCE } from "./errors.js";

export const BlockPetsemMin = 0x10000n;
export const BlockPetsemMax = 0x100ffn;
export const CavSecretOps = 0x10000n;
export const CavSecretScope = 0x10001n;

const ALL_OPS = Object.values(SecretOp).reduce((a, b) => a | b, 0);
const OP_NAMES = Object.keys(SecretOp) as SecretOpName[];

/** The writer token's operations: write, list, delete and roll back; never read values. */
export const WRITER_OPS: readonly SecretOpName[] = ["set", "unset", "list", "rollback"];
/** The reader token's operations: resolve only. */
export const READER_OPS: readonly SecretOpName[] = ["resolve"];

function petsem(a: Access, type: bigint): PetsemAccess | MacaroonError {
  return a instanceof PetsemAccess ? a : deny(INVALID_ACCESS, type, "invalid access for this caveat");
}

/** 0x10000: the operations allowed. msgpack `[uint]`; JSON `{"ops": ["set", …]}`. */
export class SecretOps implements Caveat {
  readonly type = CavSecretOps;
  readonly mask: number;
  constructor(ops: readonly SecretOpName[] | number) {
    const mask = typeof ops === "number" ? ops : ops.reduce((m, o) => m | (SecretOp[o] ?? Number.NaN), 0);
    if (!Number.isInteger(mask) || mask < 0 || (mask & ~ALL_OPS) !== 0)
      throw new CaveatError("bad_caveat", "SecretOps: unknown operation");
    this.mask = mask;
  }
  get ops(): SecretOpName[] {
    return OP_NAMES.filter((o) => (this.mask & SecretOp[o]) !== 0);
  }
  encodeBody(w: MsgpackWriter): void {
    w.array(1).uint(this.mask);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const p = petsem(a, this.type);
    if (!(p instanceof PetsemAccess)) return p;
    if ((this.mask & (SecretOp[p.op] ?? 0)) === 0)
      return deny(UNAUTHORIZED_FOR_ACTION, this.type, `operation ${p.op} not allowed by token`);
    return undefined;
  }
  bodyJSON(): unknown {
    return { ops: this.ops };
  }
}

/** 0x10001: one organization, and one app of it (0 = any). msgpack `[uint, uint]`. */
export class SecretScope implements Caveat {
  readonly type = CavSecretScope;
  constructor(
    readonly org: bigint,
    readonly app: bigint,
  ) {
    if (org <= 0n) throw new CaveatError("bad_caveat", "SecretScope: org must be positive");
    if (app < 0n) throw new CaveatError("bad_caveat", "SecretScope: app must not be negative");
  }
  encodeBody(w: MsgpackWriter): void {
    w.array(2).uint(this.org).uint(this.app);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const p = petsem(a, this.type);
    if (!(p instanceof PetsemAccess)) return p;
    if (p.orgId !== this.org)
      return deny(UNAUTHORIZED_FOR_RESOURCE, this.type, "organization not allowed by token");
    if (this.app !== 0n && p.appId !== this.app)
      return deny(UNAUTHORIZED_FOR_RESOURCE, this.type, "app not allowed by token");
    return undefined;
  }
  bodyJSON(): unknown {
    const n = (v: bigint) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
    return { org: n(this.org), app: n(this.app) };
  }
}

export const petsemCodecs = [
  defineCodec(
    CavSecretOps,
    "SecretOps",
    (r) => {
      expectArray(r, 1, "SecretOps");
      const v = r.uint();
      if (v > BigInt(ALL_OPS)) throw new CaveatError("bad_caveat", "SecretOps: unknown operation bits");
      return new SecretOps(Number(v));
    },
    (b) => {
      const ops = jsonObject(b, "SecretOps").ops;
      if (!Array.isArray(ops) || !ops.every((o) => typeof o === "string" && Object.hasOwn(SecretOp, o)))
        throw new CaveatError("bad_caveat_json", "SecretOps.ops: expected operation names");
      return new SecretOps(ops as SecretOpName[]);
    },
  ),
  defineCodec(
    CavSecretScope,
    "SecretScope",
    (r) => {
      expectArray(r, 2, "SecretScope");
      return new SecretScope(r.uint(), r.uint());
    },
    (b) => {
      const o = jsonObject(b, "SecretScope");
      return new SecretScope(u64JSON(o.org, "SecretScope.org"), u64JSON(o.app ?? 0, "SecretScope.app"));
    },
  ),
];
