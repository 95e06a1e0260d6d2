/**
 * petsem's RPC surface over HTTP/Noise IK: `POST /noise/v1/secrets/<op>`, one file per op in this
 * folder (`resolve` is resolve.ts; DESIGN.md "HTTP/Noise framing"; secrets-model.md §5.2).
 *
 * Every op but `health` carries its petsem macaroon inside the encrypted args as `args.token`
 * (`FlyV1 <petsem token>[,<discharge>…]`) and is authorized before the store is touched. Arguments
 * are parsed from `unknown` into typed values; anything else is `invalid_request`. Mutating ops
 * record `(client key, rid)` with their result in the store's write transaction, so a replayed rid
 * gets the stored result.
 */
import type { NoiseOp } from "@tkdb/noise";
import { forWire } from "@tkdb/service";
import { deployOp } from "./deploy.js";
import { healthOp } from "./health.js";
import { historyOp } from "./history.js";
import { listOp } from "./list.js";
import { resolveOp } from "./resolve.js";
import { rollbackOp } from "./rollback.js";
import { setOp } from "./set.js";
import type { RpcDeps } from "./types.js";
import { unsetOp } from "./unset.js";

export type { Authorization, Authorizer, PetsemOp, RpcDeps, SecretsStore } from "./types.js";

/**
 * What a client may learn from a refusal (@tkdb/service forWire): the canonical code, fixed
 * message, old-name alias and allow-listed details (`current_app_version`, …) of a ServiceError
 * whose code may go on the wire; server-side failures (config, wrong_kek, backup) and any other
 * error reach the Noise handler without a code: it logs them as op errors and answers `internal`.
 */
function wireSafe(op: NoiseOp): NoiseOp {
  return async (ctx) => {
    try {
      return await op(ctx);
    } catch (e) {
      throw forWire(e);
    }
  };
}

/** The op table handed to `createNoiseHandler`. */
export function petsemOps(deps: RpcDeps): Record<string, NoiseOp> {
  const ops: Record<string, NoiseOp> = {
    health: healthOp(),
    set: setOp(deps),
    unset: unsetOp(deps),
    list: listOp(deps),
    rollback: rollbackOp(deps),
    deploy: deployOp(deps),
    history: historyOp(deps),
    resolve: resolveOp(deps),
  };
  return Object.fromEntries(Object.entries(ops).map(([name, op]) => [name, wireSafe(op)]));
}
