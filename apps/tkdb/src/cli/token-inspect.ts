/** `tkdb token inspect <token|header>`: decode without verifying (like `fly tokens debug`). */
import { flyRegistry } from "@tkdb/caveats";
import { base64Encode, caveatSetToJSON, parseAuthorizationHeader, stringifyJSON } from "@tkdb/macaroon";
import { command } from "@tkdb/service";
import { tkdbRun } from "./shared.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Readable, unverified view of every token in a header. */
export function inspect(input: string): unknown {
  const parsed = parseAuthorizationHeader(input, { registry: flyRegistry });
  return parsed.map((t) => {
    if (t.kind !== "macaroon")
      return { kind: t.kind, error: t.kind === "malformed" ? t.error.code : undefined };
    const m = t.macaroon;
    return {
      unverified: true,
      location: m.location,
      nonce: base64Encode(m.nonce.encode()),
      kid: hex(m.nonce.kid),
      proof: m.nonce.proof,
      caveats: caveatSetToJSON(m.unsafeCaveats, flyRegistry),
    };
  });
}

export const tokenInspect = command({
  name: "inspect",
  description: "decode a token or header WITHOUT verifying it (offline)",
  args: [{ name: "token", description: "token or FlyV1 header" }],
  examples: ["tkdb token inspect 'FlyV1 fm2_…'"],
  run: tkdbRun((ctx) => {
    const tokens = inspect(ctx.args.token as string);
    // Already JSON (caveat ids may be bigints, written as numbers): printed as is in both modes.
    ctx.stdout.write(`${stringifyJSON(Array.isArray(tokens) && tokens.length === 1 ? tokens[0] : tokens)}\n`);
    return undefined;
  }),
});
