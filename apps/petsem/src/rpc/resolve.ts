/**
 * `resolve`: flyd reads an app's values at boot, with a reader token and tkdb's discharge; audited
 * with the principal tkdb's discharge names. Values travel as standard base64 (`value_b64`),
 * which `@tkdb/client` decodes.
 */
import type { NoiseOp } from "@tkdb/noise";
import { checkEpoch } from "../store/epochs.js";
import { bad, scope, stringArray, token, version } from "./args.js";
import type { RpcDeps } from "./types.js";

/** Standard base64 of a value's UTF-8; the intermediate bytes are wiped. */
function toBase64(value: string): string {
  const bytes = Buffer.from(value, "utf8");
  const out = bytes.toString("base64");
  bytes.fill(0);
  return out;
}

export function resolveOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    if (a.min_version === undefined) throw bad("min_version is required");
    const minVersion = version(a.min_version, "min_version");
    const minEpoch = a.min_epoch === undefined || a.min_epoch === null ? undefined : checkEpoch(a.min_epoch);
    const names = a.names === undefined || a.names === null ? null : stringArray(a.names, "names");
    const auth = authorizer.authorize(token(a), ["resolve"], org, app);
    const r = await store.resolve(
      { org, app, names, minVersion, ...(minEpoch === undefined ? {} : { minEpoch }) },
      {
        requestId: ctx.rid,
        actor: auth.actor,
        ...(auth.principal === undefined ? {} : { principal: auth.principal }),
      },
    );
    // Values travel as base64: 4/3 of their bytes whatever they hold (JSON escapes of control
    // characters would grow them 6×), so the worst case stays under MAX_RESPONSE_BYTES (item 6).
    return {
      app_version: r.app_version,
      epoch: r.epoch,
      secrets: r.secrets.map((x) => ({ name: x.name, version: x.version, value_b64: toBase64(x.value) })),
      missing: r.missing,
    };
  };
}
