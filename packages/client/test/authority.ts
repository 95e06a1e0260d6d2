/**
 * A real in-process token authority for the cache's tests: it mints with a root key, verifies
 * with @tkdb/macaroon (the same verification tkdb runs), keeps a revocation log with a cursor, and
 * can be made unreachable. It is the oracle the caching verifier is compared against.
 */
import {
  type Caveat,
  findPermissionAndDischargeTokens,
  Macaroon,
  newKey,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import { type Authority, defaultNonceId, type RevocationPage } from "../src/verifier.js";

export const LOCATION = "https://api.fly.io/v1";

export class Unreachable extends Error {}

export class TestAuthority implements Authority {
  readonly key = newKey();
  readonly kid = new Uint8Array([1, 2, 3, 4]);
  readonly log: string[] = [];
  feedUp = true;
  verifyUp = true;
  verifyCalls = 0;
  constructor(readonly clock: { now: number }) {}

  mint(caveats: Caveat[] = []): Macaroon {
    const s = BigInt(Math.floor(this.clock.now / 1000));
    return Macaroon.mint({
      key: this.key,
      kid: this.kid,
      location: LOCATION,
      caveats: [new ValidityWindow(s - 60n, s + 3600n), ...caveats],
    });
  }

  revoke(m: Macaroon): void {
    const id = defaultNonceId(m.nonce);
    if (!this.log.includes(id)) this.log.push(id);
  }

  /** The uncached oracle: signature, revocation and clock. Throws on refusal. */
  check(header: string): Caveat[] {
    const toks = parseAuthorizationHeader(header);
    const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(toks, LOCATION);
    const perm = permissionTokens[0];
    if (perm === undefined) throw new Error("no permission token");
    if (this.log.includes(defaultNonceId(perm.macaroon.nonce))) throw new Error("revoked");
    const cavs = perm.macaroon.verify(this.key, { discharges: dischargeTokens.map((t) => t.bytes) });
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
    const toks = parseAuthorizationHeader(header);
    const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(toks, LOCATION);
    const perm = permissionTokens[0];
    if (perm === undefined) throw new Error("no permission token");
    if (this.log.includes(defaultNonceId(perm.macaroon.nonce))) throw new Error("revoked");
    return { caveats: perm.macaroon.verify(this.key, { discharges: dischargeTokens.map((t) => t.bytes) }) };
  }

  async revocations(cursor: string | undefined): Promise<RevocationPage> {
    if (!this.feedUp) throw new Unreachable("feed unreachable");
    const from = cursor === undefined ? 0 : Number(cursor);
    return { nonces: this.log.slice(from), cursor: String(this.log.length) };
  }
}
