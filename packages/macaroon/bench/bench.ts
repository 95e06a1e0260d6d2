/**
 * Benchmark: one workflow — mint, attenuate, decode+verify of a token with 5
 * first-party caveats, verify with one third-party discharge — for
 * @tkdb/macaroon (native and noble backends), the npm packages
 * `macaroons.js@0.3.9` and `macaroon@3.0.4` (JSON path: its binary export
 * breaks at ≥4 caveats, reference §12), and the bare HMAC chain with
 * node:crypto (the floor). Prints one JSON line at the end.
 *
 *   pnpm --filter @tkdb/macaroon bench      (or: npx tsx bench/bench.ts)
 */
import { createHmac, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import {
  type Caveat,
  type CaveatCodec,
  type CryptoBackend,
  coreRegistry,
  dischargeTicket,
  kidForKey,
  Macaroon,
  type MsgpackWriter,
  nativeBackend,
  nobleBackend,
  ValidityWindow,
} from "../src/index.js";

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------
// Timing

function measure(fn: () => void, ms = 400, rounds = 3): number {
  for (let i = 0; i < 200; i++) fn(); // warm-up
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < 50; i++) fn();
      n += 50;
      now = performance.now();
    }
    best = Math.max(best, (n * 1000) / (now - start));
  }
  return Math.round(best);
}

// ---------------------------------------------------------------------------
// @tkdb/macaroon: 5 first-party caveats shaped like Fly's (a [str] caveat like FromMachine, and a ValidityWindow)

class StrCaveat implements Caveat {
  constructor(
    readonly type: bigint,
    readonly value: string,
  ) {}
  encodeBody(w: MsgpackWriter): void {
    w.array(1).str(this.value);
  }
  prohibits() {
    return undefined;
  }
  bodyJSON() {
    return { id: this.value };
  }
}
const strCodec = (type: bigint): CaveatCodec => ({
  type,
  name: `BenchStr${type}`,
  decodeBody(r) {
    if (r.array() !== 1) throw new Error("bad");
    return new StrCaveat(type, r.str());
  },
  fromJSON: () => {
    throw new Error("unused");
  },
});
const registry = coreRegistry.extend(strCodec(15n), strCodec(100n), strCodec(101n), strCodec(102n));

const LOC = "https://api.fly.io/v1";
const AUTH = "https://api.fly.io/aaa/v1";
const fiveCaveats = (): Caveat[] => [
  new StrCaveat(15n, "machine-148e21ec7d5198"),
  new ValidityWindow(1700000000n, 1900000000n),
  new StrCaveat(100n, "org-1234"),
  new StrCaveat(101n, "app-5678"),
  new StrCaveat(102n, "action-rw"),
];

function ours(backend: CryptoBackend) {
  const key = backend.randomBytes(32);
  const kid = kidForKey(key, backend);
  const ka = backend.randomBytes(32);
  const opts = { registry, backend };
  const token5 = Macaroon.mint({ key, kid, location: LOC, caveats: fiveCaveats(), ...opts }).encode();
  const withTp = Macaroon.mint({ key, kid, location: LOC, caveats: fiveCaveats(), ...opts });
  const ticket = withTp.add3P(ka, AUTH);
  const tpToken = withTp.encode();
  const { discharge } = dischargeTicket(ka, AUTH, ticket, opts);
  discharge.add(new ValidityWindow(1700000000n, 1900000000n));
  const dis = discharge.encode();
  const oneMore = new StrCaveat(102n, "action-r");
  // sanity
  if (Macaroon.decodeUnverified(token5, opts).verify(key).length !== 5) throw new Error("bad verify");
  if (Macaroon.decodeUnverified(tpToken, opts).verify(key, { discharges: [dis] }).length !== 6)
    throw new Error("bad 3p");
  return {
    mint: () => void Macaroon.mint({ key, kid, location: LOC, ...opts }).encode(),
    attenuate: () => void Macaroon.decodeUnverified(token5, opts).add(oneMore).encode(),
    verify: () => void Macaroon.decodeUnverified(token5, opts).verify(key),
    verify3p: () => void Macaroon.decodeUnverified(tpToken, opts).verify(key, { discharges: [dis] }),
  };
}

// ---------------------------------------------------------------------------
// macaroons.js@0.3.9 (libmacaroons v1 packets, URL-safe base64)

interface MjsMacaroon {
  serialize(): string;
}
interface MjsBuilder {
  add_first_party_caveat(c: string): MjsBuilder;
  add_third_party_caveat(loc: string, secret: string, id: string): MjsBuilder;
  prepare_for_request(m: MjsMacaroon): MjsBuilder;
  getMacaroon(): MjsMacaroon;
}
interface MjsVerifier {
  satisfyExact(c: string): MjsVerifier;
  satisfy3rdParty(m: MjsMacaroon): MjsVerifier;
  isValid(secret: string): boolean;
}
const mjs = require("macaroons.js") as {
  MacaroonsBuilder: {
    new (loc: string, key: string, id: string): MjsBuilder;
    modify(m: MjsMacaroon): MjsBuilder;
    deserialize(s: string): MjsMacaroon;
  };
  MacaroonsVerifier: new (m: MjsMacaroon) => MjsVerifier;
};
const conditions = [
  "machine = 148e21ec7d5198",
  "time < 1900000000",
  "org = 1234",
  "app = 5678",
  "action = rw",
];

function macaroonsJs() {
  const key = randomBytes(32).toString("hex");
  const id = randomBytes(16).toString("hex");
  const build = () => {
    let b = new mjs.MacaroonsBuilder(LOC, key, id);
    for (const c of conditions) b = b.add_first_party_caveat(c);
    return b;
  };
  const token5 = build().getMacaroon().serialize();
  const caveatKey = randomBytes(32).toString("hex");
  const tpToken = build().add_third_party_caveat(AUTH, caveatKey, "ticket-1").getMacaroon();
  const tpStr = tpToken.serialize();
  const d = new mjs.MacaroonsBuilder(AUTH, caveatKey, "ticket-1")
    .add_first_party_caveat("time < 1900000000")
    .getMacaroon();
  const prepared = mjs.MacaroonsBuilder.modify(tpToken).prepare_for_request(d).getMacaroon().serialize();
  const verify5 = () => {
    const v = new mjs.MacaroonsVerifier(mjs.MacaroonsBuilder.deserialize(token5));
    for (const c of conditions) v.satisfyExact(c);
    if (!v.isValid(key)) throw new Error("macaroons.js verify failed");
  };
  const verify3p = () => {
    const v = new mjs.MacaroonsVerifier(mjs.MacaroonsBuilder.deserialize(tpStr));
    for (const c of conditions) v.satisfyExact(c);
    v.satisfy3rdParty(mjs.MacaroonsBuilder.deserialize(prepared));
    if (!v.isValid(key)) throw new Error("macaroons.js 3p verify failed");
  };
  verify5();
  verify3p();
  return {
    mint: () => void new mjs.MacaroonsBuilder(LOC, key, id).getMacaroon().serialize(),
    attenuate: () =>
      void mjs.MacaroonsBuilder.modify(mjs.MacaroonsBuilder.deserialize(token5))
        .add_first_party_caveat("x = y")
        .getMacaroon()
        .serialize(),
    verify: verify5,
    verify3p,
  };
}

// ---------------------------------------------------------------------------
// macaroon@3.0.4 (js-macaroon), v2 JSON export/import

interface JsMacaroon {
  addFirstPartyCaveat(c: string): void;
  addThirdPartyCaveat(rootKey: Uint8Array, id: string, loc: string): void;
  bindToRoot(sig: Uint8Array): void;
  verify(rootKey: Uint8Array, check: (c: string) => string | null, discharges?: JsMacaroon[]): void;
  exportJSON(): unknown;
  readonly signature: Uint8Array;
}
const jsm = require("macaroon") as {
  newMacaroon(p: { identifier: string; location: string; rootKey: Uint8Array; version?: number }): JsMacaroon;
  importMacaroon(obj: unknown): JsMacaroon;
};

function jsMacaroon() {
  const rootKey = new Uint8Array(randomBytes(32));
  const id = randomBytes(16).toString("hex");
  const allowed = new Set(conditions);
  const check = (c: string) => (allowed.has(c) ? null : "caveat not satisfied");
  const m = jsm.newMacaroon({ identifier: id, location: LOC, rootKey });
  for (const c of conditions) m.addFirstPartyCaveat(c);
  const token5 = JSON.stringify(m.exportJSON());
  const caveatKey = new Uint8Array(randomBytes(32));
  const t = jsm.newMacaroon({ identifier: id, location: LOC, rootKey });
  for (const c of conditions) t.addFirstPartyCaveat(c);
  t.addThirdPartyCaveat(caveatKey, "ticket-1", AUTH);
  const tpStr = JSON.stringify(t.exportJSON());
  const d = jsm.newMacaroon({ identifier: "ticket-1", location: AUTH, rootKey: caveatKey });
  d.addFirstPartyCaveat("time < 1900000000");
  d.bindToRoot(t.signature);
  const disStr = JSON.stringify(d.exportJSON());
  const verify5 = () => jsm.importMacaroon(JSON.parse(token5)).verify(rootKey, check);
  const verify3p = () =>
    jsm.importMacaroon(JSON.parse(tpStr)).verify(rootKey, check, [jsm.importMacaroon(JSON.parse(disStr))]);
  verify5();
  verify3p();
  return {
    mint: () => void JSON.stringify(jsm.newMacaroon({ identifier: id, location: LOC, rootKey }).exportJSON()),
    attenuate: () => {
      const x = jsm.importMacaroon(JSON.parse(token5));
      x.addFirstPartyCaveat("x = y");
      JSON.stringify(x.exportJSON());
    },
    verify: verify5,
    verify3p,
  };
}

// ---------------------------------------------------------------------------
// Floor: the bare HMAC chain (nonce + 5 caveats) with node:crypto, same message sizes as our token.

function hmacFloor() {
  const key = randomBytes(32);
  const tok = Macaroon.decodeUnverified(
    Macaroon.mint({ key, kid: kidForKey(key), location: LOC, caveats: fiveCaveats(), registry }).encode(),
    { registry },
  );
  const msgs = [new Uint8Array(30), ...tok.unsafeCaveats.map(() => new Uint8Array(16))];
  return () => {
    let mac: Uint8Array = key;
    for (const m of msgs) mac = createHmac("sha256", mac).update(m).digest();
  };
}

// ---------------------------------------------------------------------------

type Suite = { mint: () => void; attenuate: () => void; verify: () => void; verify3p: () => void };
function run(name: string, s: Suite) {
  const r = {
    mint: measure(s.mint),
    attenuate: measure(s.attenuate),
    verify: measure(s.verify),
    verify3p: measure(s.verify3p),
  };
  console.log(
    `${name.padEnd(22)} ops/s  mint ${r.mint}  attenuate ${r.attenuate}  decode+verify(5) ${r.verify}  verify+3P ${r.verify3p}`,
  );
  return r;
}

const results: Record<string, Record<string, number>> = {};
if (nativeBackend) results.tkdb_native = run("@tkdb/macaroon native", ours(nativeBackend));
results.tkdb_noble = run("@tkdb/macaroon noble", ours(nobleBackend));
results.macaroons_js = run("macaroons.js@0.3.9", macaroonsJs());
results.js_macaroon = run("macaroon@3.0.4 (JSON)", jsMacaroon());
const floor = measure(hmacFloor());
console.log(`${"HMAC chain floor".padEnd(22)} ops/s  6 x HMAC-SHA256 ${floor}`);

const mine = results.tkdb_native ?? results.tkdb_noble;
const bestPeerVerify = Math.max(results.macaroons_js.verify ?? 0, results.js_macaroon.verify ?? 0);
const bestPeer3p = Math.max(results.macaroons_js.verify3p ?? 0, results.js_macaroon.verify3p ?? 0);
const round2 = (x: number) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    bench: "@tkdb/macaroon",
    node: process.version,
    ops_per_sec: { ...results, hmac_chain_floor: floor },
    verify_speedup_vs_best_peer: round2((mine?.verify ?? 0) / bestPeerVerify),
    verify3p_speedup_vs_best_peer: round2((mine?.verify3p ?? 0) / bestPeer3p),
    verify_cost_vs_hmac_floor: round2(floor / (mine?.verify ?? 1)),
    noble_verify_vs_native: round2((results.tkdb_noble?.verify ?? 0) / (mine?.verify ?? 1)),
  }),
);
