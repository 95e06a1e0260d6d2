import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlyioUserID, UserTokenNonce } from "@tkdb/caveats";
import { PetsemClient } from "@tkdb/client";
import { dischargeTicket, Macaroon, Nonce, ValidityWindow } from "@tkdb/macaroon";
import { type KeyPair, noiseCall, resolveBackend } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { petsemCaveatKit as kit } from "../src/caveat-kit.js";
import type { BackendName } from "../src/crypto.js";
import { type RunningPetsem, startPetsem } from "../src/server.js";
import { base64Length } from "../src/validate.js";
import { auditLines } from "./audit-lines.js";
import { BACKENDS } from "./helpers.js";

const TKDB = "https://api.fly.io/v1";
const ORG = "7";
const APP = "42";
const MARKER = `marker-${randomBytes(16).toString("hex")}`;

let dir: string;
let petsem: RunningPetsem;
let backend: BackendName = "native";
const sharedKey = new Uint8Array(randomBytes(32));
const client: KeyPair = resolveBackend("native").generateKeyPair();
const USER_NONCE = Nonce.create(new Uint8Array(randomBytes(8)), false).encode();
/** Plays tkdb's revocation feed: nothing revoked (src/tkdb-feed.ts has its own tests). */
const NOTHING_REVOKED = { revocations: async (cursor?: string) => ({ nonces: [], cursor: cursor ?? "0" }) };

function call<T = Record<string, unknown>>(
  op: string,
  args: Record<string, unknown>,
  rid?: string,
): Promise<T> {
  return noiseCall<T>({
    url: petsem.url,
    api: "secrets",
    op,
    args,
    pattern: "IK",
    serverPublicKey: petsem.publicKey,
    clientStaticKey: client,
    backend,
    ...(rid === undefined ? {} : { rid }),
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
  return "ok";
}

/** Plays tkdb: discharges the reader's 3P ticket with the shared key (a real discharge). */
function discharge(
  reader: string,
  o: {
    org?: bigint;
    app?: bigint;
    notBefore?: bigint;
    notAfter?: bigint;
    scope?: boolean;
    window?: boolean;
    attest?: bigint;
  } = {},
): string {
  const m = Macaroon.fromStringUnverified(reader, { registry: kit.registry });
  const ticket = m.thirdPartyTickets().get(TKDB)?.[0];
  if (!ticket) throw new Error("reader has no tkdb ticket");
  const { discharge: d } = dischargeTicket(sharedKey, TKDB, ticket, { registry: kit.registry });
  const now = BigInt(Math.floor(Date.now() / 1000));
  if (o.scope !== false) d.add(kit.secretScope(o.org ?? BigInt(ORG), o.app ?? BigInt(APP)));
  // tkdb names the user and the user token's nonce (security issue 12, item 8)
  d.add(new FlyioUserID(o.attest ?? 1n), new UserTokenNonce(USER_NONCE));
  if (o.window !== false) d.add(new ValidityWindow(o.notBefore ?? now - 5n, o.notAfter ?? now + 60n));
  return `FlyV1 ${reader},${d.toString()}`;
}

describe.each(BACKENDS)("petsem over HTTP/Noise (%s crypto): the token matrix", (b) => {
  beforeAll(async () => {
    backend = b;
    dir = mkdtempSync(join(tmpdir(), "petsem-rpc-"));
    petsem = await startPetsem({
      file: join(dir, "petsem.db"),
      kek: new Uint8Array(randomBytes(32)),
      noiseStaticKey: new Uint8Array(randomBytes(32)),
      tkdbSharedKey: sharedKey,
      tkdbLocation: TKDB,
      unsafeTestRevocationSource: NOTHING_REVOKED,
      port: 0,
      backend: b,
    });
  });

  afterAll(async () => {
    await petsem.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let writer: string;
  let reader: string;
  let appVersion = 0;

  beforeAll(async () => {
    writer = `FlyV1 ${petsem.authority.mintWriter()}`;
    reader = petsem.authority.mintReader();
    const r = await call<{ app_version: number }>("set", {
      token: writer,
      org: ORG,
      app: APP,
      values: { DATABASE_URL: MARKER, OTHER: "x" },
    });
    appVersion = r.app_version;
  });

  it("health answers without a token", async () => {
    expect(await call("health", {})).toEqual({ status: "ok" });
  });

  it("P11: the writer token can set, unset, list and roll back but never obtains a value on any op", async () => {
    const responses: unknown[] = [];
    responses.push(await call("set", { token: writer, org: ORG, app: APP, values: { TMP: "t" } }));
    responses.push(await call("unset", { token: writer, org: ORG, app: APP, names: ["TMP"] }));
    responses.push(await call("list", { token: writer, org: ORG, app: APP }));
    responses.push(await call("rollback", { token: writer, org: ORG, app: APP, name: "TMP", to_version: 1 }));
    responses.push(await call("list", { token: writer, org: ORG, app: APP }));
    for (const r of responses) expect(JSON.stringify(r)).not.toContain(MARKER);
    const names = (i: number) => (responses[i] as { secrets: { name: string }[] }).secrets.map((s) => s.name);
    expect(names(2)).toEqual(["DATABASE_URL", "OTHER"]);
    expect(names(4)).toEqual(["DATABASE_URL", "OTHER", "TMP"]);
    for (const s of (responses[4] as { secrets: { digest: string }[] }).secrets) {
      expect(s.digest).toMatch(/^rand128:[0-9a-f]{32}$/);
    }
    expect(await codeOf(call("resolve", { token: writer, org: ORG, app: APP, min_version: 0 }))).toBe(
      "forbidden",
    );
    // a writer presenting a (real) discharge still cannot resolve: its ops lack the resolve bit
    const withDischarge = discharge(reader).replace(/^FlyV1 [^,]+/, writer);
    expect(await codeOf(call("resolve", { token: withDischarge, org: ORG, app: APP, min_version: 0 }))).toBe(
      "forbidden",
    );
  });

  it("the reader with a tkdb discharge for this org/app resolves values, sent as base64", async () => {
    const r = await call<{ app_version: number; secrets: { name: string; value_b64: string }[] }>("resolve", {
      token: discharge(reader),
      org: ORG,
      app: APP,
      min_version: appVersion,
      names: ["DATABASE_URL"],
    });
    expect(r.secrets).toEqual([
      { name: "DATABASE_URL", version: 1, value_b64: Buffer.from(MARKER).toString("base64") },
    ]);
  });

  it("item 6: values of any content come back through PetsemClient byte-exact, at 4/3 of their size on the wire", async () => {
    const odd = {
      CONTROL: "\u0000\u0001\u001f\u007f".repeat(64), // 6× as JSON escapes, 4/3 as base64
      QUOTES: '"\\"\n\r\t</script>',
      UNICODE: "é€😀\u2028\u2029\uFEFF",
      EMPTY: "",
    };
    const r = await call<{ app_version: number }>("set", { token: writer, org: ORG, app: APP, values: odd });
    const pc = new PetsemClient({
      endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }],
      backend,
    });
    const got = await pc.resolve(discharge(reader), ORG, APP, r.app_version, Object.keys(odd));
    expect(Object.fromEntries(got.secrets.map((s) => [s.name, s.value]))).toEqual(odd);
    const wire = await call<{ secrets: { value_b64: string }[] }>("resolve", {
      token: discharge(reader),
      org: ORG,
      app: APP,
      min_version: 0,
      names: ["CONTROL"],
    });
    expect(wire.secrets[0]?.value_b64.length).toBe(base64Length(Buffer.byteLength(odd.CONTROL)));
  });

  it("tkdb's attestations on the discharge (the user) are recorded in the resolve audit", async () => {
    const header = discharge(reader, { attest: 1234n });
    await call("resolve", { token: header, org: ORG, app: APP, min_version: 0 });
    await petsem.audit.log.flush();
    const lines = auditLines(petsem.audit.log.dir).filter((l) => l.op === "resolve");
    const intent = lines.filter((l) => l.kind === "intent").at(-1);
    expect(intent?.actor).toMatch(/^noise:[A-Za-z0-9_-]{43}$/);
    // the user, the reader token by nonce and tail hash, the discharge by the hash of its nonce
    // (joins tkdb's discharge event, which names the user's token)
    expect(intent).toMatchObject({ user: "1234", org: ORG, app: APP, version: 0 });
    expect(intent?.tail_sha256_prefix).toMatch(/^[0-9a-f]{32}$/);
    expect(intent?.parent_nonce).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lines.find((l) => l.kind === "outcome" && l.intent_seq === intent?.seq)).toMatchObject({
      outcome: "ok",
    });
  });

  it("P12: the reader is refused without a discharge, with an expired one, or one for another org/app", async () => {
    const now = BigInt(Math.floor(Date.now() / 1000));
    const args = { org: ORG, app: APP, min_version: 0 };
    const cases: [string, string][] = [
      [`FlyV1 ${reader}`, "unauthorized"],
      [discharge(reader, { notBefore: now - 700n, notAfter: now - 600n }), "forbidden"],
      [discharge(reader, { notBefore: now + 600n, notAfter: now + 700n }), "forbidden"],
      [discharge(reader, { org: 8n }), "forbidden"],
      [discharge(reader, { app: 43n }), "forbidden"],
      [discharge(reader, { app: 0n }), "forbidden"], // not confined to one app
      [discharge(reader, { scope: false }), "forbidden"],
      [discharge(reader, { window: false }), "forbidden"],
      // a discharge for another reader's ticket (another caveat id)
      [discharge(petsem.authority.mintReader()).replace(/^FlyV1 [^,]+/, `FlyV1 ${reader}`), "unauthorized"],
    ];
    for (const [token, code] of cases) {
      expect(await codeOf(call("resolve", { ...args, token })), token.slice(0, 0)).toBe(code);
    }
  });

  it("the reader cannot write or list; stale min_version is refused, not answered with older values", async () => {
    const token = discharge(reader);
    expect(await codeOf(call("set", { token, org: ORG, app: APP, values: { A: "1" } }))).toBe("forbidden");
    expect(await codeOf(call("list", { token, org: ORG, app: APP }))).toBe("forbidden");
    expect(await codeOf(call("resolve", { token, org: ORG, app: APP, min_version: 10_000 }))).toBe("stale");
  });

  it("tokens that are not petsem's are refused; scoped writers stay in scope", async () => {
    const args = { org: ORG, app: APP };
    expect(await codeOf(call("list", { ...args }))).toBe("unauthorized");
    expect(await codeOf(call("list", { ...args, token: "FlyV1 fm2_AAAA" }))).toBe("unauthorized");
    const foreign = Macaroon.mint({
      key: new Uint8Array(randomBytes(32)),
      kid: new Uint8Array(16),
      location: "https://api.fly.io/secrets/v1",
      caveats: [kit.secretOps(31)],
      registry: kit.registry,
    });
    expect(await codeOf(call("list", { ...args, token: `FlyV1 ${foreign.toString()}` }))).toBe(
      "unauthorized",
    );
    const scoped = `FlyV1 ${petsem.authority.mintWriter({ org: 7n, app: 42n })}`;
    expect(await codeOf(call("list", { ...args, token: scoped }))).toBe("ok");
    expect(await codeOf(call("list", { org: ORG, app: "43", token: scoped }))).toBe("forbidden");
    // attenuating a writer only narrows it
    const m = Macaroon.fromStringUnverified(petsem.authority.mintWriter(), { registry: kit.registry });
    m.add(kit.secretOps(4)); // list only
    const listOnly = `FlyV1 ${m.toString()}`;
    expect(await codeOf(call("list", { ...args, token: listOnly }))).toBe("ok");
    expect(await codeOf(call("set", { ...args, token: listOnly, values: { A: "1" } }))).toBe("forbidden");
  });

  it("a repeated rid from the same client gets the stored result; bad args are typed errors", async () => {
    const rid = Buffer.from(randomBytes(16)).toString("base64url");
    const a = await call("set", { token: writer, org: ORG, app: APP, values: { IDEM: "1" } }, rid);
    const b = await call("set", { token: writer, org: ORG, app: APP, values: { IDEM: "1" } }, rid);
    expect(b).toEqual(a);
    expect(
      await codeOf(call("set", { token: writer, org: ORG, app: APP, values: { IDEM2: "1" } }, rid)),
    ).toBe("idempotency_mismatch");
    // another value under the same names is not compared (no oracle on values): the stored result
    expect(await call("set", { token: writer, org: ORG, app: APP, values: { IDEM: "2" } }, rid)).toEqual(a);
    expect(await codeOf(call("set", { token: writer, org: "x", app: APP, values: {} }))).toBe(
      "invalid_request",
    );
    // P9/P20: a rejected name (here a leaked-token lookalike) is never echoed in the error
    const leaked = `fm2_${MARKER}`;
    const err = await call("set", { token: writer, org: ORG, app: APP, values: { [leaked]: MARKER } }).catch(
      (e: unknown) => e as Error,
    );
    expect((err as { code?: string }).code).toBe("invalid_name");
    expect(`${(err as Error).message}${JSON.stringify(err)}`).not.toContain(MARKER);
    expect(
      await codeOf(call("set", { token: writer, org: ORG, app: APP, values: { "bad name": "1" } })),
    ).toBe("invalid_name");
  });

  it("anything that is not an authenticated Noise request gets a bare 400; other routes 404", async () => {
    const junk = await fetch(`${petsem.url}/noise/v1/secrets/set`, {
      method: "POST",
      headers: { "Content-Type": "application/x-noise" },
      body: new Uint8Array(randomBytes(96)),
    });
    expect(junk.status).toBe(400);
    expect((await junk.arrayBuffer()).byteLength).toBe(0);
    const other = await fetch(`${petsem.url}/v1/apps/42/secrets`);
    expect(other.status).toBe(404);
    expect((await other.arrayBuffer()).byteLength).toBe(0);
  });
});
