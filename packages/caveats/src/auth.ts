/**
 * The authentication third party's caveats (superfly/macaroon `auth/caveats.go`). The ConfineX
 * caveats ride in tickets and are checked by the 3P against a DischargeRequest; the *UserID
 * caveats are attestations, only valid in proofs (discharges), skipped by validation.
 */
import {
  type Access,
  type Caveat,
  CaveatError,
  jsonInteger,
  jsonString,
  type MacaroonError,
  type MsgpackReader,
  type MsgpackWriter,
} from "@tkdb/macaroon";
import { DischargeRequest } from "./access.js";
import { bareUintCodec, defineCodec, structUintCodec, U64_MAX } from "./codec.js";
import { BAD_CAVEAT, deny, INVALID_ACCESS } from "./errors.js";

export const CavConfineUser = 8n;
export const CavConfineOrganization = 9n;
export const CavConfineGoogleHD = 19n;
export const CavConfineGitHubOrg = 20n;
export const CavMaxValidity = 21n;
export const CavFlyioUserID = 23n;
export const CavGitHubUserID = 24n;
export const CavGoogleUserID = 25n;

function dr(a: Access, type: bigint): DischargeRequest | MacaroonError {
  return a instanceof DischargeRequest ? a : deny(INVALID_ACCESS, type, "invalid access for this caveat");
}

const num = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/** Type 8: the discharge requester must be this Fly user. */
export class ConfineUser implements Caveat {
  readonly type = CavConfineUser;
  constructor(readonly id: bigint) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(1).uint(this.id);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const r = dr(a, this.type);
    if (!(r instanceof DischargeRequest)) return r;
    if ((r.r.flyio ?? []).some((f) => f.userId === this.id)) return undefined;
    return deny("unauthorized", this.type, `must authenticate as Fly.io user ${this.id}`);
  }
  bodyJSON(): unknown {
    return { id: num(this.id) };
  }
}

/** Type 9: the discharge requester must belong to this organization. */
export class ConfineOrganization implements Caveat {
  readonly type = CavConfineOrganization;
  constructor(readonly id: bigint) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(1).uint(this.id);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const r = dr(a, this.type);
    if (!(r instanceof DischargeRequest)) return r;
    if ((r.r.flyio ?? []).some((f) => f.organizationIds.includes(this.id))) return undefined;
    return deny(
      "unauthorized",
      this.type,
      `must authenticate with Fly.io account with access to organization ${this.id}`,
    );
  }
  bodyJSON(): unknown {
    return { id: num(this.id) };
  }
}

/** Type 19: a Google account of this hosted domain. */
export class ConfineGoogleHD implements Caveat {
  readonly type = CavConfineGoogleHD;
  constructor(readonly hd: string) {}
  encodeBody(w: MsgpackWriter): void {
    w.str(this.hd);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const r = dr(a, this.type);
    if (!(r instanceof DischargeRequest)) return r;
    if ((r.r.google ?? []).some((g) => g.hd === this.hd)) return undefined;
    return deny("unauthorized", this.type, "must authenticate with Google account of the required domain");
  }
  bodyJSON(): unknown {
    return this.hd;
  }
}

/** Type 20: a GitHub account in this organization. */
export class ConfineGitHubOrg implements Caveat {
  readonly type = CavConfineGitHubOrg;
  constructor(readonly id: bigint) {}
  encodeBody(w: MsgpackWriter): void {
    w.uint(this.id);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const r = dr(a, this.type);
    if (!(r instanceof DischargeRequest)) return r;
    if ((r.r.github ?? []).some((g) => g.orgIds.includes(this.id))) return undefined;
    return deny(
      "unauthorized",
      this.type,
      "must authenticate with GitHub account in the required organization",
    );
  }
  bodyJSON(): unknown {
    return num(this.id);
  }
}

/** Type 21: the discharge may live at most this many seconds. */
export class MaxValidity implements Caveat {
  readonly type = CavMaxValidity;
  constructor(readonly seconds: bigint) {}
  encodeBody(w: MsgpackWriter): void {
    w.uint(this.seconds);
  }
  prohibits(a: Access): MacaroonError | undefined {
    const r = dr(a, this.type);
    if (!(r instanceof DischargeRequest)) return r;
    if (r.r.expiry === undefined) return deny(INVALID_ACCESS, this.type, "discharge request has no expiry");
    const lifetimeMs = BigInt(r.r.expiry.getTime() - r.now().getTime());
    if (lifetimeMs > this.seconds * 1000n)
      return deny("unauthorized", this.type, `validity longer than ${this.seconds} s`);
    return undefined;
  }
  bodyJSON(): unknown {
    return num(this.seconds);
  }
}

/** The smallest MaxValidity in a set, in seconds (Go `auth.GetMaxValidity`). */
export function getMaxValidity(cavs: readonly Caveat[]): bigint | undefined {
  let min: bigint | undefined;
  for (const c of cavs)
    if (c instanceof MaxValidity && (min === undefined || c.seconds < min)) min = c.seconds;
  return min;
}

abstract class Attestation implements Caveat {
  abstract readonly type: bigint;
  readonly isAttestation = true;
  abstract encodeBody(w: MsgpackWriter): void;
  abstract bodyJSON(): unknown;
  /** Attestations state facts; validation skips them. Asked directly, they refuse (fail closed). */
  prohibits(): MacaroonError | undefined {
    return deny(BAD_CAVEAT, this.type, "attestations do not authorize");
  }
}

/** An attestation whose body is one bare uint64 (Go `type X uint64`). */
abstract class UintAttestation extends Attestation {
  constructor(readonly id: bigint) {
    super();
  }
  encodeBody(w: MsgpackWriter): void {
    w.uint(this.id);
  }
  bodyJSON(): unknown {
    return num(this.id);
  }
}

/** Type 23 (attestation): the discharge was issued to this Fly user. */
export class FlyioUserID extends UintAttestation {
  readonly type = CavFlyioUserID;
}

/** Type 24 (attestation): GitHub user ID. */
export class GitHubUserID extends UintAttestation {
  readonly type = CavGitHubUserID;
}

/** Type 25 (attestation): Google user ID, a big.Int written as its big-endian magnitude. */
export class GoogleUserID extends Attestation {
  readonly type = CavGoogleUserID;
  constructor(readonly id: bigint) {
    super();
    if (id < 0n) throw new CaveatError("bad_caveat", "GoogleUserID must not be negative");
  }
  encodeBody(w: MsgpackWriter): void {
    let hex = this.id === 0n ? "" : this.id.toString(16);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    const b = new Uint8Array(hex.length / 2);
    for (let i = 0; i < b.length; i++) b[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    w.bin(b);
  }
  bodyJSON(): unknown {
    return num(this.id);
  }
}

function magnitude(r: MsgpackReader): bigint {
  const b = r.bin();
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

export const authCodecs = [
  structUintCodec(CavConfineUser, "ConfineUser", "id", (v) => new ConfineUser(v)),
  structUintCodec(CavConfineOrganization, "ConfineOrganization", "id", (v) => new ConfineOrganization(v)),
  defineCodec(
    CavConfineGoogleHD,
    "ConfineGoogleHD",
    (r) => new ConfineGoogleHD(r.str()),
    (b) => new ConfineGoogleHD(jsonString(b, "ConfineGoogleHD")),
  ),
  bareUintCodec(CavConfineGitHubOrg, "ConfineGitHubOrg", (v) => new ConfineGitHubOrg(v)),
  bareUintCodec(CavMaxValidity, "MaxValidity", (v) => new MaxValidity(v)),
  bareUintCodec(CavFlyioUserID, "FlyioUserID", (v) => new FlyioUserID(v), { isAttestation: true }),
  bareUintCodec(CavGitHubUserID, "GitHubUserID", (v) => new GitHubUserID(v), { isAttestation: true }),
  defineCodec(
    CavGoogleUserID,
    "GoogleUserID",
    (r) => new GoogleUserID(magnitude(r)),
    (b) => new GoogleUserID(jsonInteger(b, "GoogleUserID", 0n, (1n << 256n) - 1n)),
    { isAttestation: true },
  ),
];

export { U64_MAX };
