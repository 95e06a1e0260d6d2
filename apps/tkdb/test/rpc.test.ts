import { CavOrganization, flyRegistry } from "@tkdb/caveats";
import {
  base64Encode,
  caveatSetFromJSON,
  caveatSetToJSON,
  dischargeTicket,
  Macaroon,
  ValidityWindow,
} from "@tkdb/macaroon";
import { NoiseRemoteError, NoiseTransportError } from "@tkdb/noise";
import { codeIs } from "@tkdb/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_LOCATION, DEFAULT_LOCATION } from "../src/env.js";
import { startTkdb, type TkdbHandle } from "../src/server.js";
import { caller, type Fixture, fixture, nc, tempDir } from "./helpers.js";

const ORG = "7";
const orgCaveat = [{ type: "Organization", body: { id: 7, mask: "rwcdC" } }];

let t: ReturnType<typeof tempDir>;
let fx: Fixture;
let h: TkdbHandle;
let c: ReturnType<typeof caller>;

async function remoteError(p: Promise<unknown>): Promise<NoiseRemoteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof NoiseRemoteError) return err;
  throw new Error(`expected a remote refusal, got ${String(err)}`);
}

async function remoteCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NoiseRemoteError) return err.code;
    throw err;
  }
  throw new Error("expected a refusal");
}

/** A user token as Fly's auth flow makes it: permission token + 3P to the auth service + its discharge. */
async function userHeader(
  validFor = 300,
  caveats: unknown[] = orgCaveat,
): Promise<{ header: string; perm: string; nonce: string }> {
  const { token, nonce } = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats });
  const m = Macaroon.fromStringUnverified(token, { registry: flyRegistry });
  const ticket = m.add3P(fx.authKey, AUTH_LOCATION);
  const { discharge } = dischargeTicket(fx.authKey, AUTH_LOCATION, ticket, { registry: flyRegistry });
  const now = BigInt(Math.floor(Date.now() / 1000));
  discharge.add(new ValidityWindow(now - 10n, now + BigInt(validFor)));
  return { header: `FlyV1 ${m.toString()},${discharge.toString()}`, perm: m.toString(), nonce };
}

beforeAll(async () => {
  t = tempDir();
  fx = fixture(t.dir);
  h = await startTkdb(fx.config);
  c = caller(h.url, h.publicKey, fx.signClient);
  await c.sign("org_create", { org: ORG });
});
afterAll(async () => {
  await h.close();
  t.cleanup();
});

describe("tkdb RPCs over HTTP/Noise", () => {
  it("org_create is idempotent: the second call reports the same kid, created=false", async () => {
    const a = await c.sign<{ kid: string; created: boolean }>("org_create", { org: "8" });
    const b = await c.sign<{ kid: string; created: boolean }>("org_create", { org: "8" });
    expect(a.created).toBe(true);
    expect(b).toEqual({ ...a, created: false });
  });

  it("a minted token verifies and returns its caveats, nonce and org", async () => {
    const m = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats: orgCaveat });
    const v = await c.verify<{ caveats: unknown; nonce: string; org: string }>("verify", {
      header: `FlyV1 ${m.token}`,
    });
    expect(v).toMatchObject({ caveats: orgCaveat, nonce: m.nonce, org: ORG });
  });

  it("an attenuated token verifies with the extra caveat; a tampered one is refused", async () => {
    const m = await c.sign<{ token: string }>("mint", { org: ORG, caveats: [] });
    const mac = Macaroon.fromStringUnverified(m.token, { registry: flyRegistry });
    mac.add(...(await import("@tkdb/macaroon")).caveatSetFromJSON(orgCaveat, flyRegistry));
    const v = await c.verify<{ caveats: unknown }>("verify", { header: `FlyV1 ${mac.toString()}` });
    expect(v.caveats).toEqual(orgCaveat);
    const bytes = mac.encode();
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    expect(await remoteCode(c.verify("verify", { header: `FlyV1 fm2_${base64Encode(bytes)}` }))).toBe(
      "unauthorized",
    );
  });

  it("revoking a nonce kills every token of its lineage and shows in the feed", async () => {
    const before = await c.verify<{ cursor: string }>("revocations", {});
    const m = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats: [] });
    const child = Macaroon.fromStringUnverified(m.token, { registry: flyRegistry });
    child.add(new ValidityWindow(0n, 10n ** 12n));
    await c.sign("revoke", { nonce: m.nonce });
    expect(await remoteCode(c.verify("verify", { header: `FlyV1 ${m.token}` }))).toBe("revoked");
    expect(await remoteCode(c.verify("verify", { header: `FlyV1 ${child.toString()}` }))).toBe("revoked");
    const feed = await c.verify<{ nonces: string[]; cursor: string }>("revocations", {
      cursor: before.cursor,
    });
    expect(feed.nonces).toEqual([m.nonce]);
    const again = await c.verify<{ nonces: string[]; cursor: string }>("revocations", {
      cursor: feed.cursor,
    });
    expect(again).toMatchObject({ nonces: [], cursor: feed.cursor });
  });

  it("revoke by token (bare or header) finds the nonce; revoking again is idempotent with one feed entry", async () => {
    const m = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats: [] });
    const revoked = { nonce: m.nonce, revoked: true, derived: [], requiredUntil: null };
    expect(await c.sign("revoke", { token: m.token })).toEqual(revoked);
    expect(await c.sign("revoke", { nonce: m.nonce })).toEqual(revoked);
    expect(await c.sign("revoke", { token: `FlyV1 ${m.token}` })).toEqual(revoked);
    const feed = await c.verify<{ nonces: string[] }>("revocations", { limit: 5000 });
    expect(feed.nonces.filter((n) => n === m.nonce)).toHaveLength(1);
  });

  it("verify refuses a token under an unknown key id with unauthorized (alias unknown_key)", async () => {
    const m = Macaroon.mint({
      key: new Uint8Array(32).fill(1),
      kid: new Uint8Array(16).fill(2),
      location: DEFAULT_LOCATION,
      registry: flyRegistry,
    });
    const err = await remoteError(c.verify("verify", { header: `FlyV1 ${m.toString()}` }));
    expect([err.code, err.alias]).toEqual(["unauthorized", "unknown_key"]);
  });

  it("verify refuses a header without a permission token at tkdb's location with unauthorized (alias bad_token)", async () => {
    const m = Macaroon.mint({
      key: new Uint8Array(32).fill(1),
      kid: new Uint8Array(16).fill(2),
      location: "https://elsewhere.example/v1",
      registry: flyRegistry,
    });
    const err = await remoteError(c.verify("verify", { header: `FlyV1 ${m.toString()}` }));
    expect([err.code, err.alias]).toEqual(["unauthorized", "bad_token"]);
    // A client that still matches the old name finds it; one that asks the canonical question too.
    expect(codeIs(err, "bad_token")).toBe(true);
    expect(codeIs(err, "unauthorized")).toBe(true);
    expect(codeIs(err, "verification_failed")).toBe(false);
  });

  it("verify leaves ValidityWindow to the caller: an expired token verifies and reports its window", async () => {
    const window = { type: "ValidityWindow", body: { not_before: 1, not_after: 2 } };
    const m = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats: [window] });
    const v = await c.verify<{ caveats: unknown; nonce: string }>("verify", { header: `FlyV1 ${m.token}` });
    expect(v).toMatchObject({ caveats: [window], nonce: m.nonce, org: ORG });
  });

  it("org and app ids are accepted as safe-integer numbers and answered as decimal strings", async () => {
    const r = await c.sign<{ org: string; created: boolean }>("org_create", { org: 9 });
    expect(r.org).toBe("9");
    const m = await c.sign<{ token: string }>("mint", { org: 9, caveats: [] });
    expect((await c.verify<{ org: string }>("verify", { header: `FlyV1 ${m.token}` })).org).toBe("9");
  });

  it("mint refuses third-party caveats with invalid_request (alias bad_caveats)", async () => {
    const tp = Macaroon.mint({
      key: new Uint8Array(32),
      kid: new Uint8Array(1),
      location: "x",
      registry: flyRegistry,
    });
    tp.add3P(fx.authKey, AUTH_LOCATION);
    const cavs = caveatSetToJSON(tp.unsafeCaveats, flyRegistry);
    expect(await remoteCode(c.sign("mint", { org: ORG, caveats: cavs }))).toBe("invalid_request");
  });

  it("revoking the auth discharge's nonce makes the user header verify as revoked", async () => {
    const u = await userHeader();
    const dis = u.header.split(",")[1] as string;
    const d = Macaroon.fromStringUnverified(dis, { registry: flyRegistry });
    await c.sign("revoke", { nonce: base64Encode(d.nonce.encode()) });
    expect(await remoteCode(c.verify("verify", { header: u.header }))).toBe("revoked");
  });

  const ridOf = (n: number) => Buffer.from(new Uint8Array(16).fill(n)).toString("base64url");

  it("a replayed mutating rid returns the stored result instead of minting again; the rid for another op is idempotency_mismatch", async () => {
    const rid = ridOf(3);
    const a = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats: [] }, rid);
    const b = await c.sign<{ token: string; nonce: string }>("mint", { org: ORG, caveats: [] }, rid);
    expect(b).toEqual(a);
    // the same rid for another op is refused and has no effect
    expect(await remoteCode(c.sign("revoke", { nonce: a.nonce }, rid))).toBe("idempotency_mismatch");
    const feed = await c.verify<{ nonces: string[] }>("revocations", { limit: 5000 });
    expect(feed.nonces).not.toContain(a.nonce);
  });

  it("a replayed revoke rid answers the stored result (revoked: true) without a second feed entry", async () => {
    const m = await c.sign<{ nonce: string }>("mint", { org: ORG, caveats: [] });
    const rid = ridOf(4);
    const first = await c.sign("revoke", { nonce: m.nonce }, rid);
    const again = await c.sign("revoke", { nonce: m.nonce }, rid);
    expect(first).toEqual({ nonce: m.nonce, revoked: true, derived: [], requiredUntil: null });
    expect(again).toEqual(first);
    const feed = await c.verify<{ nonces: string[] }>("revocations", { limit: 5000 });
    expect(feed.nonces.filter((n) => n === m.nonce)).toHaveLength(1);
  });

  it("a user token with its auth discharge verifies; without the discharge it is refused", async () => {
    const u = await userHeader();
    const v = await c.verify<{ org: string }>("verify", { header: u.header });
    expect(v.org).toBe(ORG);
    expect(await remoteCode(c.verify("verify", { header: `FlyV1 ${u.perm}` }))).toBe("unauthorized");
  });

  it("an unauthorized verification names the failing caveat or discharge and never echoes token bytes", async () => {
    const u = await userHeader();
    const err = (await c
      .verify("verify", { header: `FlyV1 ${u.perm}` })
      .catch((e: unknown) => e)) as NoiseRemoteError;
    expect(err.code).toBe("unauthorized");
    expect(err.message).toMatch(/caveat \d|discharge/);
    expect(err.message).not.toContain(u.perm.slice(4, 30));
    const expired = await userHeader(-5);
    const err2 = (await c
      .sign("strip", { header: expired.header })
      .catch((e: unknown) => e)) as NoiseRemoteError;
    expect(err2.code).toBe("unauthorized");
    expect(err2.message).not.toContain(expired.header.slice(10, 40));
  });

  it("strip turns a user token into a service token without expiry or auth caveat", async () => {
    const u = await userHeader();
    const s = await c.sign<{ token: string }>("strip", { header: u.header });
    const m = Macaroon.fromStringUnverified(s.token, { registry: flyRegistry });
    expect(m.unsafeCaveats.map((x) => x.type)).toEqual([CavOrganization]);
    const v = await c.verify<{ caveats: unknown }>("verify", { header: `FlyV1 ${s.token}` });
    expect(v.caveats).toEqual(orgCaveat);
  });

  it("strip is refused when the auth discharge does not verify (expired)", async () => {
    const u = await userHeader(-5);
    expect(await remoteCode(c.sign("strip", { header: u.header }))).toBe("unauthorized");
  });

  it("discharge: a petsem ticket + a user token allowed on the org → a discharge; other org → forbidden", async () => {
    const petsemRoot = new Uint8Array(32).fill(9);
    const pm = Macaroon.mint({
      key: petsemRoot,
      kid: new Uint8Array([1]),
      location: "https://api.fly.io/secrets/v1",
      registry: flyRegistry,
    });
    const ticket = pm.add3P(fx.petsemKey, DEFAULT_LOCATION);
    const u = await userHeader();
    const r = await c.verify<{ discharge: string }>("discharge", {
      ticket: base64Encode(ticket),
      header: u.header,
      org: ORG,
      app: "42",
    });
    const d = Macaroon.fromStringUnverified(r.discharge, { registry: flyRegistry });
    expect(d.unsafeCaveats.map((x) => x.constructor.name)).toEqual([
      "ValidityWindow",
      "SecretScope",
      "UserTokenNonce",
    ]);
    // the attestation counts only for a verifier that trusts tkdb's discharges
    expect(pm.verify(petsemRoot, { discharges: [d] }).length).toBe(2);
    expect(
      await remoteCode(
        c.verify("discharge", { ticket: base64Encode(ticket), header: u.header, org: "99", app: "42" }),
      ),
    ).toBe("forbidden");
  });

  /** A petsem-style reader token: petsem's own root key + a 3P caveat to tkdb's location. */
  function readerToken() {
    const root = new Uint8Array(32).fill(5);
    const pm = Macaroon.mint({
      key: root,
      kid: new Uint8Array([2]),
      location: "https://api.fly.io/secrets/v1",
      registry: flyRegistry,
    });
    const ticket = base64Encode(pm.add3P(fx.petsemKey, DEFAULT_LOCATION));
    return { root, pm, ticket };
  }

  it("discharge is confined to the apps the user token allows, with window now-5s..now-5s+TTL", async () => {
    const { root, pm, ticket } = readerToken();
    const u = await userHeader(300, [...orgCaveat, { type: "Apps", body: { apps: { "42": "rw" } } }]);
    expect(await remoteCode(c.verify("discharge", { ticket, header: u.header, org: ORG, app: "43" }))).toBe(
      "forbidden",
    );
    const before = BigInt(Math.floor(Date.now() / 1000));
    const r = await c.verify<{ discharge: string }>("discharge", {
      ticket,
      header: u.header,
      org: 7,
      app: 42,
    });
    const after = BigInt(Math.floor(Date.now() / 1000));
    const d = Macaroon.fromStringUnverified(r.discharge, { registry: flyRegistry });
    const w = d.unsafeCaveats[0] as ValidityWindow;
    expect(w.notBefore >= before - 5n && w.notBefore <= after - 5n).toBe(true);
    expect(w.notAfter - w.notBefore).toBe(60n);
    expect(caveatSetToJSON(pm.verify(root, { discharges: [d] }), flyRegistry)).toContainEqual({
      type: "SecretScope",
      body: expect.anything(),
    });
  });

  it("discharge is refused for a revoked user token and for a ticket sealed with another key", async () => {
    const { ticket } = readerToken();
    const u = await userHeader();
    await c.sign("revoke", { nonce: u.nonce });
    expect(await remoteCode(c.verify("discharge", { ticket, header: u.header, org: ORG, app: "1" }))).toBe(
      "revoked",
    );
    const other = Macaroon.mint({
      key: new Uint8Array(32),
      kid: new Uint8Array(1),
      location: "x",
      registry: flyRegistry,
    });
    const badTicket = base64Encode(other.add3P(new Uint8Array(32).fill(8), DEFAULT_LOCATION));
    const u2 = await userHeader();
    expect(
      await remoteCode(c.verify("discharge", { ticket: badTicket, header: u2.header, org: ORG, app: "1" })),
    ).toBe("unauthorized");
  });

  it("verify answers caveat ids beyond 2^53 exactly, as decimal strings (bigint-safe JSON)", async () => {
    const m = await c.sign<{ token: string }>("mint", { org: ORG, caveats: orgCaveat });
    const mac = Macaroon.fromStringUnverified(m.token, { registry: flyRegistry });
    mac.add(
      ...caveatSetFromJSON([{ type: "Apps", body: { apps: { "9007199254740993": "r" } } }], flyRegistry),
    );
    const big = { type: "Organization", body: { id: 9007199254740993n, mask: "r" } };
    mac.add(...caveatSetFromJSON([big], flyRegistry));
    const v = await c.verify<{ caveats: unknown[] }>("verify", { header: `FlyV1 ${mac.toString()}` });
    expect(v.caveats[2]).toEqual({ type: "Organization", body: { id: "9007199254740993", mask: "r" } });
    expect(v.caveats[1]).toEqual({ type: "Apps", body: { apps: { "9007199254740993": "r" } } });
  });

  it("health answers ok and primary", async () => {
    expect(await c.verify("health", {})).toMatchObject({ ok: true, primary: true, stale: false });
  });

  it("a client key not on the allowlist gets a bare 400 on the signing API", async () => {
    const stranger = caller(h.url, h.publicKey, nc.generateKeyPair());
    const err = await stranger.sign("mint", { org: ORG, caveats: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoiseTransportError);
    expect((err as NoiseTransportError).status).toBe(400);
    const res = await fetch(`${h.url}/noise/v1/sign/mint`, { method: "POST", body: "x" });
    expect(res.status).toBe(400);
  });

  const malformed: [string, "verify" | "sign", Record<string, unknown>, string][] = [
    ["verify", "verify", { header: 5 }, "invalid_request"],
    ["verify", "verify", {}, "invalid_request"],
    ["verify", "verify", { header: "FlyV1 fm2_AAAA" }, "unauthorized"],
    ["verify", "verify", { header: "x".repeat(60000) }, "unauthorized"],
    ["revocations", "verify", { cursor: "-1" }, "invalid_request"],
    ["revocations", "verify", { cursor: 5 }, "invalid_request"],
    ["revocations", "verify", { limit: 1e9 }, "invalid_request"],
    ["revocations", "verify", { limit: 5001 }, "invalid_request"],
    ["revocations", "verify", { limit: "10" }, "invalid_request"],
    ["discharge", "verify", { ticket: "!!", header: "", org: "7", app: "1" }, "invalid_request"],
    ["discharge", "verify", { ticket: "AAAA", header: "FlyV1 x", org: "7", app: "x" }, "invalid_request"],
    ["discharge", "verify", { ticket: "AAAA", header: "FlyV1 x", org: "7", app: "1" }, "unauthorized"],
    ["discharge", "verify", { header: "FlyV1 x", org: "7", app: "1" }, "invalid_request"],
    ["org_create", "sign", { org: "0" }, "invalid_request"],
    ["org_create", "sign", { org: -3 }, "invalid_request"],
    ["org_create", "sign", { org: 1.5 }, "invalid_request"],
    ["org_create", "sign", { org: "1".repeat(30) }, "invalid_request"],
    ["org_create", "sign", {}, "invalid_request"],
    ["mint", "sign", { org: "7", caveats: [{ type: "Nope" }] }, "invalid_request"],
    ["mint", "sign", { org: "12345", caveats: [] }, "not_found"],
    ["mint", "sign", { org: "7", caveats: "x" }, "invalid_request"],
    ["mint", "sign", { org: "7", caveats: [{ type: "Organization", body: { id: "x" } }] }, "invalid_request"],
    ["revoke", "sign", {}, "invalid_request"],
    ["revoke", "sign", { nonce: "***" }, "invalid_request"],
    ["revoke", "sign", { nonce: 7 }, "invalid_request"],
    ["revoke", "sign", { token: "fm2_////" }, "unauthorized"],
    ["strip", "sign", { header: "FlyV1 fm2_" + "A".repeat(100) }, "unauthorized"],
    ["strip", "sign", { header: ["x"] }, "invalid_request"],
  ];
  it.each(malformed)(
    "malformed %s args (%s API) → the typed refusal for that input, never internal",
    async (op, api, args, expected) => {
      const code = await remoteCode(api === "verify" ? c.verify(op, args) : c.sign(op, args));
      expect(code).toBe(expected);
    },
  );

  const allOps = [
    "verify/verify",
    "verify/revocations",
    "verify/discharge",
    "verify/health",
    "sign/org_create",
    "sign/mint",
    "sign/revoke",
    "sign/strip",
  ];
  it.each(allOps)(
    "truncated, garbage and oversized bodies to %s get a bare 400, never a 5xx",
    async (path) => {
      for (const body of [
        new Uint8Array(0),
        new Uint8Array(10),
        new Uint8Array(96).fill(7),
        new Uint8Array(70000),
      ]) {
        const res = await fetch(`${h.url}/noise/v1/${path}`, {
          method: "POST",
          headers: { "Content-Type": "application/x-noise" },
          body,
        });
        expect(res.status).toBe(400);
        expect((await res.arrayBuffer()).byteLength).toBe(0);
      }
    },
  );
});
