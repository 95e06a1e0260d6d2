import { type Caveat, type CaveatCodec, CaveatRegistry, coreRegistry, jsonInteger } from "../src/caveat.js";
import { availableBackends } from "../src/crypto.js";
import type { MacaroonError } from "../src/errors.js";
import { PermissionError } from "../src/errors.js";
import type { MsgpackWriter } from "../src/msgpack.js";

export const backends = availableBackends.map((b) => [b.name, b] as const);

/**
 * Minimal test-only caveat: a uint body. Lets tests exercise attestations and
 * first-party caveats without the Fly registry (which lives in @tkdb/caveats).
 */
export class UintCaveat implements Caveat {
  constructor(
    readonly type: bigint,
    readonly value: bigint,
    readonly isAttestation: boolean,
  ) {}
  encodeBody(w: MsgpackWriter): void {
    w.uint(this.value);
  }
  prohibits(): MacaroonError | undefined {
    return this.value === 0n ? new PermissionError("zero", { caveatType: this.type }) : undefined;
  }
  bodyJSON(): unknown {
    return Number(this.value);
  }
}

export function uintCodec(type: bigint, name: string, isAttestation: boolean): CaveatCodec {
  return {
    type,
    name,
    isAttestation,
    decodeBody: (r) => new UintCaveat(type, r.uint(), isAttestation),
    fromJSON: (b) => new UintCaveat(type, jsonInteger(b, name, 0n, (1n << 64n) - 1n), isAttestation),
  };
}

/** Core registry + FlyioUserID (23) as an attestation, as the Fly registry defines it. */
export const testRegistry: CaveatRegistry = coreRegistry.extend(uintCodec(23n, "FlyioUserID", true));
export const attestation = (v: bigint) => new UintCaveat(23n, v, true);
/** A test first-party caveat in the user-defined range. */
export const TEST_TYPE = 1n << 48n;
export const userCav = (v: bigint) => new UintCaveat(TEST_TYPE, v, false);
export const userRegistry: CaveatRegistry = testRegistry.extend(uintCodec(TEST_TYPE, "TestUint", false));

export { CaveatRegistry };
