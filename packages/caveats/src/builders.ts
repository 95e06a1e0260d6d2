/**
 * Builders for the caveats a Go user writes as struct literals
 * (`&flyio.Apps{Apps: resset.ResourceSet[uint64, resset.Action]{20: resset.ActionRead}}`,
 * `&resset.IfPresent{Ifs: macaroon.NewCaveatSet(...), Else: resset.ActionRead}`), taking plain
 * numbers and action strings. Bad input is a CaveatError `bad_argument`, never a silent rounding:
 * an ID above 2^53 must be given as a bigint or a decimal string.
 */
import { type Caveat, CaveatError, type CaveatRegistry } from "@tkdb/macaroon";
import { type Action, parseAction } from "./action.js";
import { U64_MAX } from "./codec.js";
import { ActionCaveat, Apps, IfPresent, Organization } from "./flyio.js";
// Read at call time only (index.ts re-exports this module).
import { flyRegistry } from "./index.js";
import { ResourceSet } from "./resset.js";

/** An action as bits (`ActionRead | ActionWrite`) or as Go's letters (`"rw"`, `"*"`). */
export type ActionLike = Action | string;
/** A uint64 ID: a safe non-negative integer, a bigint, or a decimal string. */
export type IdLike = number | bigint | string;

/** Parse an ActionLike (Go `resset.ActionFromString` for strings, but unknown letters are refused). */
export function toAction(a: ActionLike, what = "action"): Action {
  if (typeof a === "number") {
    if (!Number.isInteger(a) || a < 0 || a > 0xffff)
      throw new CaveatError("bad_argument", `${what}: expected action bits 0…0xffff`);
    return a;
  }
  if (typeof a !== "string")
    throw new CaveatError("bad_argument", `${what}: expected an action string or bits`);
  try {
    return parseAction(a, what);
  } catch (e) {
    throw new CaveatError("bad_argument", e instanceof Error ? e.message : `${what}: bad action`);
  }
}

/** Parse an IdLike into a uint64. */
export function toU64(id: IdLike, what = "id"): bigint {
  let v: bigint;
  if (typeof id === "bigint") v = id;
  else if (typeof id === "number") {
    if (!Number.isSafeInteger(id))
      throw new CaveatError("bad_argument", `${what}: not a safe integer (use a bigint or a decimal string)`);
    v = BigInt(id);
  } else if (typeof id === "string" && /^(0|[1-9]\d{0,19})$/.test(id)) v = BigInt(id);
  else throw new CaveatError("bad_argument", `${what}: expected a uint64 (number, bigint or decimal string)`);
  if (v < 0n || v > U64_MAX) throw new CaveatError("bad_argument", `${what}: out of uint64 range`);
  return v;
}

type AppsInput =
  | Readonly<Record<string, ActionLike>>
  | ReadonlyMap<IdLike, ActionLike>
  | Iterable<readonly [IdLike, ActionLike]>;

/**
 * Go `&flyio.Apps{Apps: {20: ActionRead|ActionWrite, 300: ActionRead}}`:
 * `apps({ 20: "rw", 300: "r" })`, `apps([[20, "rw"], [1n << 40n, "c"]])` or a Map.
 */
export function apps(input: AppsInput): InstanceType<typeof Apps.Class> {
  let pairs: Iterable<readonly [IdLike, ActionLike]>;
  if (input instanceof Map) pairs = input.entries();
  else if (typeof (input as Iterable<unknown>)[Symbol.iterator] === "function")
    pairs = input as Iterable<readonly [IdLike, ActionLike]>;
  else if (typeof input === "object" && input !== null)
    pairs = Object.entries(input as Record<string, ActionLike>);
  else throw new CaveatError("bad_argument", "apps: expected an object, a Map or [id, action] pairs");
  const entries: [bigint, Action][] = [];
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new CaveatError("bad_argument", "apps: expected [id, action] pairs");
    const [id, a] = pair as readonly [IdLike, ActionLike];
    entries.push([toU64(id, "apps id"), toAction(a, `apps[${String(id)}]`)]);
  }
  return new Apps.Class(new ResourceSet("uint", entries));
}

/** Go `&flyio.Organization{ID: id, Mask: mask}`: `organization(1234, "rwcdC")`. */
export function organization(id: IdLike, mask: ActionLike): Organization {
  return new Organization(toU64(id, "organization id"), toAction(mask, "organization mask"));
}

/** Go `resset.Action` caveat (type 26): `action("r")`. */
export function action(a: ActionLike): ActionCaveat {
  return new ActionCaveat(toAction(a));
}

/**
 * Go `&resset.IfPresent{Ifs: macaroon.NewCaveatSet(ifs...), Else: else}`:
 * `ifPresent([new Mutations(["createApp"])], "r")`. `reg` names the inner caveats in JSON
 * (default: flyRegistry).
 */
export function ifPresent(
  ifs: readonly Caveat[] | null,
  elseAction: ActionLike,
  reg: CaveatRegistry = flyRegistry,
): IfPresent {
  if (ifs !== null && !Array.isArray(ifs))
    throw new CaveatError("bad_argument", "ifPresent: ifs must be an array of caveats or null");
  return new IfPresent(ifs === null ? null : [...ifs], toAction(elseAction, "ifPresent else"), reg);
}
