/**
 * resset.Action: a bit set of what an access does (superfly/macaroon `resset/action.go`).
 * JSON is a string of the letters `r w c d C`; `"*"` is every bit (0xffff).
 */
import { CaveatError } from "@tkdb/macaroon";

export type Action = number;

export const ActionRead = 1;
export const ActionWrite = 2;
export const ActionCreate = 4;
export const ActionDelete = 8;
export const ActionControl = 16;
export const ActionAll = 0x1f;
export const ActionNone = 0;
/** What `"*"` parses to (Go: every bit of the uint16). */
export const ActionStar = 0xffff;

const LETTERS: readonly [string, number][] = [
  ["r", ActionRead],
  ["w", ActionWrite],
  ["c", ActionCreate],
  ["d", ActionDelete],
  ["C", ActionControl],
];

export function actionToString(a: Action): string {
  let s = "";
  for (const [ch, bit] of LETTERS) if ((a & bit) !== 0) s += ch;
  return s;
}

export function parseAction(v: unknown, what = "action"): Action {
  if (typeof v !== "string") throw new CaveatError("bad_caveat_json", `${what}: expected an action string`);
  if (v === "*") return ActionStar;
  let a = 0;
  for (const ch of v) {
    const bit = LETTERS.find(([l]) => l === ch)?.[1];
    if (bit === undefined) throw new CaveatError("bad_caveat_json", `${what}: invalid action letter`);
    a |= bit;
  }
  return a;
}

export function isSubsetOf(a: Action, of: Action): boolean {
  return (a & of) === a;
}

/** Bits of `a` not in `allowed`. */
export function actionRemove(a: Action, allowed: Action): Action {
  return a & ~allowed;
}
