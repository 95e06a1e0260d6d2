/**
 * Security issue 12, items 7 and 8 (petsem side), unit level: petsem's token blacklist, the
 * discharge rules of `resolve` (5-minute cap, tkdb's statement of the user, attestations trusted
 * only from tkdb's discharge) and the tkdb revocation feed that fails closed.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { segmentName, verify } from "@tkdb/audit";
import { FlyioUserID, IsUser, ServiceTokenNonce, UserTokenNonce } from "@tkdb/caveats";
import { base64Encode, type Caveat, dischargeTicket, Macaroon, Nonce, ValidityWindow } from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import { petsemCaveatKit as kit } from "../src/caveat-kit.js";
import { auditedRevoke } from "../src/cli-audit.js";
import { isPetsemError } from "../src/errors.js";
import { openPetsem } from "../src/server.js";
import { type RevocationSource, TkdbRevocationFeed, type UserRevocations } from "../src/tkdb-feed.js";
import { PetsemAuthority } from "../src/tokens.js";
import { newKek, tempDir } from "./helpers.js";

const LOC = "https://api.fly.io/secrets/v1";
const TKDB = "https://api.fly.io/v1";
const ORG = 7n;
const APP = 42n;

function verdict(a: PetsemAuthority, header: string, op: "list" | "resolve" = "resolve"): string {
  try {
    a.authorize(header, [op], ORG, APP);
    return "ok";
  } catch (e) {
    if (isPetsemError(e)) return e.code;
    throw e;
  }
}

/** A user token nonce as tkdb would attest it. */
function userNonce(): Uint8Array {
  return Nonce.create(new Uint8Array(randomBytes(8)), false).encode();
}

const OK_FEED: UserRevocations = { status: () => "ok" };

function setup(feed: UserRevocations | null = OK_FEED, revoked = new Set<string>()) {
  const shared = newKek();
  const a = new PetsemAuthority({
    rootKey: newKek(),
    location: LOC,
    tkdbLocation: TKDB,
    tkdbSharedKey: shared,
    kit,
    revokedTokens: { isRevoked: (n) => revoked.has(base64Encode(n)) },
    userRevocations: feed,
  });
  return { a, shared, reader: a.mintReader() };
}

/** Plays tkdb: a discharge of the reader's ticket with `caveats` (default: scope, 60 s, user 9). */
function discharge(shared: Uint8Array, reader: string, caveats?: Caveat[], nonce = userNonce()): string {
  const ticket = Macaroon.fromStringUnverified(reader, { registry: kit.registry })
    .thirdPartyTickets()
    .get(TKDB)?.[0];
  if (!ticket) throw new Error("no tkdb ticket");
  const { discharge: d } = dischargeTicket(shared, TKDB, ticket, { registry: kit.registry });
  const now = BigInt(Math.floor(Date.now() / 1000));
  d.add(
    ...(caveats ?? [
      kit.secretScope(ORG, APP),
      new ValidityWindow(now - 30n, now + 60n),
      new FlyioUserID(9n),
      new UserTokenNonce(nonce),
    ]),
  );
  return d.toString();
}

function window(seconds: bigint): ValidityWindow {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return new ValidityWindow(now - 30n, now - 30n + seconds);
}

describe("petsem token revocation (blacklist)", () => {
  it("a revoked writer or reader nonce is refused on the next call, attenuations included; others are not", () => {
    const dir = tempDir();
    const opened = openPetsem({ dataDir: dir, kek: newKek(), tkdbSharedKey: newKek() });
    try {
      const { authority, blacklist } = opened;
      const writer = authority.mintWriter();
      const other = authority.mintWriter();
      const narrowed = Macaroon.fromStringUnverified(writer, { registry: kit.registry });
      narrowed.add(kit.secretScope(ORG, APP));
      expect(verdict(authority, `FlyV1 ${narrowed.toString()}`, "list")).toBe("ok");
      const r = blacklist.revoke(authority.nonceToRevoke({ token: writer }));
      expect(r.revoked).toBe(true);
      expect(verdict(authority, `FlyV1 ${writer}`, "list")).toBe("unauthorized");
      expect(verdict(authority, `FlyV1 ${narrowed.toString()}`, "list")).toBe("unauthorized");
      expect(verdict(authority, `FlyV1 ${other}`, "list")).toBe("ok");
      // by nonce (tkdb's padded base64 or base64url), idempotent
      const reader = authority.mintReader();
      const id = base64Encode(
        Macaroon.fromStringUnverified(reader, { registry: kit.registry }).nonce.encode(),
      );
      expect(blacklist.revoke(authority.nonceToRevoke({ nonce: id }))).toEqual({
        nonce: id,
        revoked: true,
      });
      const url = Buffer.from(id, "base64").toString("base64url");
      expect(blacklist.revoke(authority.nonceToRevoke({ nonce: url })).revoked).toBe(false);
      expect(
        blacklist.isRevoked(Macaroon.fromStringUnverified(reader, { registry: kit.registry }).nonce.encode()),
      ).toBe(true);
    } finally {
      opened.close();
    }
  });

  it("revocations are audited in the CLI's file log (intent, outcome), naming the nonce and never the token", async () => {
    const dir = tempDir();
    const config = { dataDir: dir, kek: newKek() };
    const opened = openPetsem(config);
    try {
      const writer = opened.authority.mintWriter();
      const bytes = opened.authority.nonceToRevoke({ token: writer });
      const { nonce } = await auditedRevoke(config, opened, bytes, "alice");
      const cliLog = join(dir, "audit", "cli");
      expect(await verify(cliLog)).toMatchObject({ ok: true });
      const lines = readFileSync(join(cliLog, segmentName(1)), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.op === "revoke");
      expect(lines.map((l) => [l.kind, l.outcome ?? null, l.actor, l.nonce])).toEqual([
        ["intent", null, "cli:alice", nonce],
        ["outcome", "ok", "cli:alice", nonce],
      ]);
      expect(JSON.stringify(lines)).not.toContain(writer.slice(4, 40));
      // the old table is no longer written
      expect(opened.store.auditLog()).toEqual([]);
    } finally {
      opened.close();
    }
  });

  it("only nonces of this petsem's own tokens can be revoked", () => {
    const dir = tempDir();
    const opened = openPetsem({ dataDir: join(dir, "a"), kek: newKek() });
    const other = openPetsem({ dataDir: join(dir, "b"), kek: newKek() });
    try {
      const foreign = other.authority.mintWriter();
      const code = (f: () => unknown) => {
        try {
          f();
          return "ok";
        } catch (e) {
          return isPetsemError(e) ? e.code : "thrown";
        }
      };
      expect(code(() => opened.authority.nonceToRevoke({ token: foreign }))).toBe("invalid_request");
      expect(code(() => opened.authority.nonceToRevoke({ nonce: "not base64!" }))).toBe("invalid_request");
      expect(code(() => opened.authority.nonceToRevoke({ nonce: base64Encode(randomBytes(30)) }))).toBe(
        "invalid_request",
      );
      expect(code(() => opened.authority.nonceToRevoke({ token: "fm2_garbage" }))).toBe("invalid_request");
    } finally {
      opened.close();
      other.close();
    }
  });
});

describe("resolve: the tkdb discharge", () => {
  it("tkdb's discharge naming the user and the user token resolves, and the audit principal names both", () => {
    const { a, shared, reader } = setup();
    const nonce = userNonce();
    const d = discharge(shared, reader, undefined, nonce);
    const auth = a.authorize(`FlyV1 ${reader},${d}`, ["resolve"], ORG, APP);
    expect(auth.principal).toEqual({
      user: "9",
      user_token: base64Encode(nonce),
      discharge: base64Encode(Macaroon.fromStringUnverified(d, { registry: kit.registry }).nonce.encode()),
    });
  });

  it("a discharge valid for longer than 5 minutes is refused, even with a narrower window beside it", () => {
    const { a, shared, reader } = setup();
    const base = (w: Caveat[]) => [
      kit.secretScope(ORG, APP),
      ...w,
      new FlyioUserID(9n),
      new UserTokenNonce(userNonce()),
    ];
    expect(verdict(a, `FlyV1 ${reader},${discharge(shared, reader, base([window(300n)]))}`)).toBe("ok");
    expect(verdict(a, `FlyV1 ${reader},${discharge(shared, reader, base([window(301n)]))}`)).toBe(
      "forbidden",
    );
    expect(verdict(a, `FlyV1 ${reader},${discharge(shared, reader, base([window(86_400n)]))}`)).toBe(
      "forbidden",
    );
    expect(
      verdict(a, `FlyV1 ${reader},${discharge(shared, reader, base([window(86_400n), window(60n)]))}`),
    ).toBe("forbidden");
  });

  it("a discharge without tkdb's statement of the token (or the user) is refused", () => {
    const { a, shared, reader } = setup();
    const w = window(90n);
    const s = kit.secretScope(ORG, APP);
    const cases: [Caveat[], string][] = [
      [[s, w, new FlyioUserID(9n)], "forbidden"], // no token nonce
      [[s, w, new UserTokenNonce(userNonce())], "forbidden"], // no user
      [[s, w, new FlyioUserID(9n), new FlyioUserID(10n), new UserTokenNonce(userNonce())], "forbidden"],
      [
        [s, w, new FlyioUserID(9n), new UserTokenNonce(userNonce()), new UserTokenNonce(userNonce())],
        "forbidden",
      ],
      [[s, w, new ServiceTokenNonce(userNonce(), ORG + 1n)], "forbidden"], // another org's service token
      [[s, w, new ServiceTokenNonce(userNonce(), ORG)], "ok"],
    ];
    for (const [cavs, want] of cases) {
      expect(verdict(a, `FlyV1 ${reader},${discharge(shared, reader, cavs)}`)).toBe(want);
    }
  });

  it("two discharges for the one tkdb caveat are refused (which one names the user would be ambiguous)", () => {
    const { a, shared, reader } = setup();
    expect(verdict(a, `FlyV1 ${reader},${discharge(shared, reader)},${discharge(shared, reader)}`)).toBe(
      "forbidden",
    );
  });

  it("attestations outside tkdb's discharge are never the user: IsUser on the reader, a holder's own 3P discharge", () => {
    const { a, shared, reader } = setup();
    // IsUser appended to the reader token: not an attestation, never taken as the user
    const m = Macaroon.fromStringUnverified(reader, { registry: kit.registry });
    m.add(new IsUser(666n));
    const withIsUser = m.toString();
    const auth1 = a.authorize(`FlyV1 ${withIsUser},${discharge(shared, withIsUser)}`, ["resolve"], ORG, APP);
    expect(auth1.principal?.user).toBe("9");
    // the holder adds a 3P caveat of their own and discharges it with a FlyioUserID attestation
    const m2 = Macaroon.fromStringUnverified(reader, { registry: kit.registry });
    const evilKey = newKek();
    const evilTicket = m2.add3P(evilKey, "https://evil.example/");
    const evil = dischargeTicket(evilKey, "https://evil.example/", evilTicket, {
      registry: kit.registry,
    }).discharge;
    evil.add(new FlyioUserID(666n), new UserTokenNonce(userNonce()));
    const r2 = m2.toString();
    const auth2 = a.authorize(
      `FlyV1 ${r2},${discharge(shared, r2)},${evil.toString()}`,
      ["resolve"],
      ORG,
      APP,
    );
    expect(auth2.principal?.user).toBe("9");
    // ...and with no tkdb statement at all, the holder's own attestations do not make one
    const bare = discharge(shared, r2, [kit.secretScope(ORG, APP), window(60n)]);
    expect(verdict(a, `FlyV1 ${r2},${bare},${evil.toString()}`)).toBe("forbidden");
    // attestations cannot ride in the permission token at all
    expect(() =>
      Macaroon.fromStringUnverified(reader, { registry: kit.registry }).add(new FlyioUserID(666n)),
    ).toThrow();
  });

  it("the user's token revoked at tkdb is refused; a stale feed or none refuses with unavailable", () => {
    const nonce = userNonce();
    let state: "ok" | "revoked" | "stale" = "ok";
    const { a, shared, reader } = setup({ status: (id) => (id === base64Encode(nonce) ? state : "ok") });
    const header = `FlyV1 ${reader},${discharge(shared, reader, undefined, nonce)}`;
    expect(verdict(a, header)).toBe("ok");
    state = "stale";
    expect(verdict(a, header)).toBe("unavailable");
    state = "revoked";
    expect(verdict(a, header)).toBe("unauthorized");
    const none = setup(null);
    expect(verdict(none.a, `FlyV1 ${none.reader},${discharge(none.shared, none.reader)}`)).toBe(
      "unavailable",
    );
  });
});

describe("tkdb revocation feed", () => {
  function source(
    pages: { nonces: string[]; cursor: string }[] | (() => never),
  ): RevocationSource & { calls: number } {
    const s = {
      calls: 0,
      async revocations(cursor: string | undefined) {
        s.calls++;
        if (typeof pages === "function") return pages();
        const i = cursor === undefined ? 0 : Number(cursor);
        return pages[i] ?? { nonces: [], cursor: String(i) };
      },
    };
    return s;
  }

  it("is stale until its first poll succeeds, then reports every revoked nonce across pages", async () => {
    const now = 1_000_000;
    const feed = new TkdbRevocationFeed({
      source: source([
        { nonces: ["A"], cursor: "1" },
        { nonces: ["B", "C"], cursor: "2" },
      ]),
      pollIntervalMs: 100,
      failClosedAfterMs: 1000,
      now: () => now,
    });
    expect(feed.status("X")).toBe("stale");
    expect(await feed.poll()).toBe(true);
    expect(["A", "B", "C", "X"].map((id) => feed.status(id))).toEqual([
      "revoked",
      "revoked",
      "revoked",
      "ok",
    ]);
  });

  it("fails closed once the feed has been silent longer than the threshold; known revocations stay refused", async () => {
    let now = 1_000_000;
    let down = false;
    const pages = [{ nonces: ["A"], cursor: "1" }];
    const feed = new TkdbRevocationFeed({
      source: {
        async revocations(cursor) {
          if (down) throw new Error("connection refused");
          return pages[cursor === undefined ? 0 : Number(cursor)] ?? { nonces: [], cursor: cursor ?? "0" };
        },
      },
      pollIntervalMs: 100,
      failClosedAfterMs: 1000,
      now: () => now,
    });
    expect(await feed.poll()).toBe(true);
    down = true;
    now += 900;
    expect(await feed.poll()).toBe(false);
    expect(feed.status("X")).toBe("ok");
    now += 200;
    expect(feed.status("X")).toBe("stale");
    expect(feed.status("A")).toBe("revoked");
    down = false;
    expect(await feed.poll()).toBe(true);
    expect(feed.status("X")).toBe("ok");
  });

  it("refuses to forget: past its bound on revoked ids it fails closed", async () => {
    const feed = new TkdbRevocationFeed({
      source: source([{ nonces: ["A", "B", "C"], cursor: "1" }]),
      pollIntervalMs: 100,
      failClosedAfterMs: 1000,
      maxRevoked: 2,
    });
    expect(await feed.poll()).toBe(false);
    expect(feed.status("X")).toBe("stale");
  });
});
