/**
 * A real in-process token authority for the cache's tests, built to answer as tkdb does
 * (apps/tkdb/src/tokens.ts `parse`, `verifyParsed`) and as TkdbClient reads it: it mints with a
 * root key, splits the header as tkdb does (malformed tokens ignored, the first permission token
 * used), verifies with @tkdb/macaroon (trusted third parties included), refuses a bundle holding
 * any revoked nonce, and returns the caveats through tkdb's JSON answer. It keeps a revocation log
 * with a cursor and can be made unreachable. It is the oracle the caching verifier is compared with.
 */
import {
  type Caveat,
  type CaveatRegistry,
  caveatSetFromJSON,
  caveatSetToJSON,
  coreRegistry,
  findPermissionAndDischargeTokens,
  Macaroon,
  newKey,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import { type Authority, defaultNonceId, type RevocationPage } from "../src/verifier.js";

export const LOCATION = "https://api.fly.io/v1";

export class Unreachable extends Error {}

/** A refusal by the authority (tkdb answers `ok: false`). */
export class Refused extends Error {}

/** apps/tkdb `jsonSafe`: integers past 2^53 travel as decimal strings. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint")
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

/** Caveats as tkdb's verify answer carries them (its JSON form after the trip over the wire). */
export function wireJSON(cavs: readonly Caveat[], registry: CaveatRegistry): unknown {
  return JSON.parse(JSON.stringify(jsonSafe(caveatSetToJSON(cavs, registry))));
}

export interface TestAuthorityOptions {
  registry?: CaveatRegistry;
  /** Third parties whose discharges' attestations are trusted (tkdb's TKDB_TP_KEYS). */
  trusted3Ps?: ReadonlyMap<string, readonly Uint8Array[]>;
}

export class TestAuthority implements Authority {
  readonly key = newKey();
  readonly kid = new Uint8Array([1, 2, 3, 4]);
  readonly log: string[] = [];
  readonly registry: CaveatRegistry;
  private readonly trusted3Ps: ReadonlyMap<string, readonly Uint8Array[]>;
  feedUp = true;
  verifyUp = true;
  verifyCalls = 0;
  constructor(
    readonly clock: { now: number },
    opts: TestAuthorityOptions = {},
  ) {
    this.registry = opts.registry ?? coreRegistry;
    this.trusted3Ps = opts.trusted3Ps ?? new Map();
  }

  mint(caveats: Caveat[] = []): Macaroon {
    const s = BigInt(Math.floor(this.clock.now / 1000));
    return Macaroon.mint({
      key: this.key,
      kid: this.kid,
      location: LOCATION,
      caveats: [new ValidityWindow(s - 60n, s + 3600n), ...caveats],
      registry: this.registry,
    });
  }

  revoke(m: Macaroon): void {
    this.revokeId(defaultNonceId(m.nonce));
  }

  revokeId(id: string): void {
    if (!this.log.includes(id)) this.log.push(id);
  }

  /** tkdb's raw answer: the verified caveats in its JSON form. Throws Refused. */
  answerJSON(header: string): unknown {
    let toks: ReturnType<typeof parseAuthorizationHeader>;
    try {
      toks = parseAuthorizationHeader(header, { registry: this.registry });
    } catch (e) {
      throw new Refused(`bad header: ${(e as Error).message}`);
    }
    const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(toks, LOCATION);
    const perm = permissionTokens[0];
    if (perm === undefined) throw new Refused("no permission token");
    let cavs: Caveat[];
    try {
      cavs = perm.macaroon.verify(this.key, {
        discharges: dischargeTokens.map((t) => t.macaroon),
        trusted3Ps: this.trusted3Ps,
        registry: this.registry,
      });
    } catch (e) {
      throw new Refused(`verification failed: ${(e as Error).message}`);
    }
    const ids = [perm, ...dischargeTokens].map((t) => defaultNonceId(t.macaroon.nonce));
    if (ids.some((id) => this.log.includes(id))) throw new Refused("revoked");
    return wireJSON(cavs, this.registry);
  }

  /** What TkdbClient.verify hands back for the header: the JSON answer read with the registry. */
  answer(header: string): Caveat[] {
    return caveatSetFromJSON(this.answerJSON(header), this.registry);
  }

  /** The uncached oracle: the answer, then the clock (what CachingVerifier.verify checks). */
  check(header: string): Caveat[] {
    const cavs = this.answer(header);
    const clock = { now: () => new Date(this.clock.now), validate: () => {} };
    for (const c of cavs) {
      const err = c instanceof ValidityWindow ? c.prohibits(clock) : undefined;
      if (err) throw err;
    }
    return cavs;
  }

  async verify(header: string): Promise<{ caveats: Caveat[] }> {
    this.verifyCalls++;
    if (!this.verifyUp) throw new Unreachable("authority unreachable");
    return { caveats: this.answer(header) };
  }

  async revocations(cursor: string | undefined): Promise<RevocationPage> {
    if (!this.feedUp) throw new Unreachable("feed unreachable");
    const from = cursor === undefined ? 0 : Number(cursor);
    return { nonces: this.log.slice(from), cursor: String(this.log.length) };
  }
}
