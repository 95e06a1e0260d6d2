/**
 * resset.ResourceSet: a map of resource ID → Action with Go's exact semantics
 * (superfly/macaroon `resset/resource_set.go`):
 *
 * 1. the zero ID (0 or "") may only appear alone (else ErrBadCaveat);
 * 2. no ID in the access → ErrResourceUnspecified;
 * 3. permission starts as ActionAll, ANDed with the zero-ID entry and with every matching entry
 *    (equality, or for Prefix sets, the entry is a prefix of the ID);
 * 4. no match → ErrUnauthorizedForResource; action ⊄ permission → ErrUnauthorizedForAction.
 *
 * The msgpack map is written with sorted keys (numeric order for uint IDs, UTF-8 byte order for
 * strings), which is what makes the encoding canonical.
 */
import {
  CaveatError,
  goMap,
  jsonObject,
  type MacaroonError,
  type MsgpackReader,
  type MsgpackWriter,
} from "@tkdb/macaroon";
import { type Action, ActionAll, actionRemove, actionToString, isSubsetOf, parseAction } from "./action.js";
import {
  BAD_CAVEAT,
  deny,
  RESOURCE_UNSPECIFIED,
  UNAUTHORIZED_FOR_ACTION,
  UNAUTHORIZED_FOR_RESOURCE,
} from "./errors.js";

export type IdKind = "uint" | "string" | "prefix";
type IdOf<K extends IdKind> = K extends "uint" ? bigint : string;

const U64_MAX = (1n << 64n) - 1n;
const utf8 = new TextEncoder();

function compareIds(a: bigint | string, b: bigint | string): number {
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  // Go sorts strings by bytes: compare UTF-8, not UTF-16 code units.
  const x = utf8.encode(a as string);
  const y = utf8.encode(b as string);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return x.length - y.length;
}

export class ResourceSet<K extends IdKind = IdKind> {
  /** Entries sorted by ID, as they go on the wire. */
  readonly entries: readonly (readonly [IdOf<K>, Action])[];

  constructor(
    readonly kind: K,
    entries: Iterable<readonly [IdOf<K>, Action]>,
  ) {
    const list = [...entries].map(([id, a]) => [id, a] as const);
    list.sort((p, q) => compareIds(p[0], q[0]));
    for (let i = 1; i < list.length; i++) {
      if (
        compareIds(
          (list[i - 1] as readonly [IdOf<K>, Action])[0],
          (list[i] as readonly [IdOf<K>, Action])[0],
        ) === 0
      )
        throw new CaveatError("bad_caveat", "resource set: duplicate ID");
    }
    for (const [id, a] of list) {
      if (kind === "uint" && (typeof id !== "bigint" || id < 0n || id > U64_MAX))
        throw new CaveatError("bad_caveat", "resource set: ID out of range");
      if (kind !== "uint" && typeof id !== "string")
        throw new CaveatError("bad_caveat", "resource set: bad ID");
      if (!Number.isInteger(a) || a < 0 || a > 0xffff)
        throw new CaveatError("bad_caveat", "resource set: bad action");
    }
    this.entries = list;
  }

  static of<K extends IdKind>(kind: K, obj: Record<string, Action> | Map<IdOf<K>, Action>): ResourceSet<K> {
    if (obj instanceof Map) return new ResourceSet(kind, obj.entries());
    return new ResourceSet(
      kind,
      Object.entries(obj).map(([k, a]) => [(kind === "uint" ? BigInt(k) : k) as IdOf<K>, a] as const),
    );
  }

  private isZero(id: IdOf<K>): boolean {
    return typeof id === "bigint" ? id === 0n : id === "";
  }

  private matches(entry: IdOf<K>, id: IdOf<K>): boolean {
    if (entry === id) return true;
    return this.kind === "prefix" && (id as string).startsWith(entry as string);
  }

  /** Go `ResourceSet.Prohibits(id, action)`. */
  prohibits(id: IdOf<K> | undefined, action: Action, caveatType: bigint): MacaroonError | undefined {
    const hasZero = this.entries.some(([e]) => this.isZero(e));
    if (hasZero && this.entries.length !== 1)
      return deny(BAD_CAVEAT, caveatType, "bad caveat: cannot specify zero ID along with other IDs");
    if (id === undefined) return deny(RESOURCE_UNSPECIFIED, caveatType, "resource unspecified");
    let found = false;
    let perm = ActionAll;
    for (const [e, a] of this.entries) {
      if (this.isZero(e) || this.matches(e, id)) {
        perm &= a;
        found = true;
      }
    }
    if (!found) return deny(UNAUTHORIZED_FOR_RESOURCE, caveatType, `unauthorized for resource ${String(id)}`);
    if (!isSubsetOf(action, perm))
      return deny(
        UNAUTHORIZED_FOR_ACTION,
        caveatType,
        `unauthorized for action: access ${actionToString(action)} (${actionToString(actionRemove(action, perm))} not allowed)`,
      );
    return undefined;
  }

  encode(w: MsgpackWriter): void {
    w.map(this.entries.length);
    for (const [id, a] of this.entries) {
      if (typeof id === "bigint") w.uint(id);
      else w.str(id);
      w.uint(a);
    }
  }

  static decode<K extends IdKind>(r: MsgpackReader, kind: K): ResourceSet<K> {
    const n = r.map();
    const out: [IdOf<K>, Action][] = [];
    for (let i = 0; i < n; i++) {
      const id = (kind === "uint" ? r.uint() : r.str()) as IdOf<K>;
      const a = r.uint();
      if (a > 0xffffn) throw new CaveatError("bad_caveat", "resource set: action out of range");
      out.push([id, Number(a)]);
    }
    return new ResourceSet(kind, out);
  }

  /**
   * Go marshals the map with string keys and action strings. The object is
   * marked as a Go map (`goMap`), so `caveatSetToGoJSON` writes its keys
   * sorted as strings the way encoding/json does ("10" before "9").
   */
  toJSON(): Record<string, string> {
    const o: Record<string, string> = {};
    for (const [id, a] of this.entries) o[String(id)] = actionToString(a);
    return goMap(o);
  }

  static fromJSON<K extends IdKind>(v: unknown, kind: K, what: string): ResourceSet<K> {
    if (v === null) return new ResourceSet(kind, []);
    const o = jsonObject(v, what);
    const out: [IdOf<K>, Action][] = [];
    for (const [k, a] of Object.entries(o)) {
      let id: IdOf<K>;
      if (kind === "uint") {
        if (!/^(0|[1-9]\d*)$/.test(k)) throw new CaveatError("bad_caveat_json", `${what}: bad numeric ID`);
        id = BigInt(k) as IdOf<K>;
      } else id = k as IdOf<K>;
      out.push([id, parseAction(a, `${what}[${k}]`)]);
    }
    return new ResourceSet(kind, out);
  }
}
