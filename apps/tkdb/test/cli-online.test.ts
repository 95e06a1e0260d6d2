/**
 * The online tkdb commands in-process (runCli, no subprocess) against a real `tkdb serve` on
 * 127.0.0.1, stopped in afterAll: dev login, token verify (judged now or --at), discharge, token
 * strip, token revoke online and local, and the errors that say what failed, where and what next.
 */
import { base64Encode, Macaroon } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "../src/crypto.js";
import { AUTH_LOCATION, DEFAULT_LOCATION } from "../src/env.js";
import { runTkdb, serveTkdb } from "./cli-run.js";
import { nc, tempDir } from "./helpers.js";

const t = tempDir();
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const signer = nc.generateKeyPair();
const mintOnly = nc.generateKeyPair();
const stranger = nc.generateKeyPair();
const authKey = randomBytes(32);
const petsemKey = randomBytes(32);
const local: Record<string, string> = {
  TKDB_DATA_DIR: `${t.dir}/data`,
  TKDB_KEK: hex(randomBytes(32)),
  TKDB_TP_KEYS: `${DEFAULT_LOCATION}=${hex(petsemKey)},${AUTH_LOCATION}=${hex(authKey)}`,
};
let server: Awaited<ReturnType<typeof serveTkdb>>;
let online: Record<string, string>;
let dev: Record<string, string>;

const run = (argv: string[], env: Record<string, string>, stdin?: string) =>
  runTkdb(argv, { env, cwd: t.dir, ...(stdin === undefined ? {} : { stdin }) });

beforeAll(async () => {
  expect((await run(["org", "create", "5", "--init"], local)).code).toBe(0);
  server = await serveTkdb(
    {
      ...local,
      TKDB_PORT: "0",
      TKDB_NOISE_KEY: hex(nc.generateKeyPair().secretKey),
      TKDB_SIGN_CLIENTS: `${hex(signer.publicKey)}:org_create+mint+revoke+strip,${hex(mintOnly.publicKey)}:mint`,
    },
    t.dir,
  );
  online = {
    TKDB_URL: server.url,
    TKDB_SERVER_PUBLIC_KEY: server.publicKey,
    TKDB_CLIENT_KEY: hex(signer.secretKey),
  };
  dev = { ...online, NODE_ENV: "development", TKDB_DEV_AUTH_KEY: hex(authKey) };
}, 120_000);

afterAll(async () => {
  await server?.stop();
  t.cleanup();
});

async function login(user = "42"): Promise<string> {
  const r = await run(["dev", "login", "--org", "5", "--user", user], dev);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** petsem's reader token as far as tkdb cares: any token with a 3P caveat at tkdb's location. */
function readerToken(): Macaroon {
  const m = Macaroon.mint({ key: randomBytes(32), kid: randomBytes(16), location: "https://petsem.example" });
  m.add3P(petsemKey, DEFAULT_LOCATION, []);
  return m;
}

describe("tkdb dev login and token verify", () => {
  it("dev login prints the user's bundle alone on stdout (token + login discharge), and verify accepts it from stdin", async () => {
    const out = await login();
    expect(out).toMatch(/^FlyV1 fm2_[^,\s]+,fm2_\S+\n$/);
    const v = await run(["token", "verify", "-", "--json"], online, out);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ valid: true, org: "5", tokens: 2 });
    const human = await run(["token", "verify", "-"], online, out);
    expect(human.stdout).toMatch(/^valid: org 5, 2 token\(s\), expires \d{4}-/);
  });

  it("dev login's user token can fall back to TKDB_TP_KEYS for the auth key, and --json gives the header and its expiry", async () => {
    const { TKDB_DEV_AUTH_KEY: _, ...viaTp } = dev;
    const r = await run(["dev", "login", "--org=5", "--user=7", "--json"], {
      ...viaTp,
      TKDB_TP_KEYS: local.TKDB_TP_KEYS as string,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      header: expect.stringMatching(/^FlyV1 /),
      org: "5",
      user: "7",
    });
  });

  it("dev login for an org that does not exist exits 1 and says to create it", async () => {
    const r = await run(["dev", "login", "--org", "6", "--user", "42"], dev);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("tkdb org create 6");
  });

  it("token verify judges the windows at --at: expired or not yet valid exit 1, naming the caveat", async () => {
    const header = await login();
    const later = await run(["token", "verify", "-", "--at", "2099-01-01T00:00:00Z"], online, header);
    expect(later.code).toBe(1);
    expect(later.stderr).toMatch(/caveat \d+ \(ValidityWindow\): expired at \d{4}-\d\d-\d\dT/);
    const earlier = await run(["token", "verify", "-", "--at", "1000000000"], online, header);
    expect(earlier.code).toBe(1);
    expect(earlier.stderr).toContain("not valid before");
  });

  it("token verify of a non-token exits 1 without echoing it", async () => {
    const r = await run(["token", "verify", "hunter2-secret"], online);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("hunter2");
  });
});

describe("tkdb token mint", () => {
  it("--online mints through the server; --expiry adds a ValidityWindow of that length; --app an Apps caveat", async () => {
    expect((await run(["org", "create", "8", "--online", "--json"], online)).code).toBe(0);
    for (const [argv, env] of [
      [["token", "mint", "--org=8", "--app=3", "--expiry=30m", "--online"], online],
      [["token", "mint", "--org", "5", "--app", "3", "--expiry", "30m"], local],
    ] as const) {
      const r = await run([...argv], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^fm2_\S+\n$/);
      const view = JSON.parse((await run(["token", "inspect", r.stdout.trim(), "--json"], {})).stdout);
      expect(view.caveats[0]).toEqual({ type: "Apps", body: { apps: { 3: "rwcdC" } } });
      const w = view.windows[0];
      expect(Number(w.not_after) - Number(w.not_before)).toBe(1800 + 60);
      expect((await run(["token", "verify", r.stdout.trim()], online)).code).toBe(0);
    }
  });
});

describe("tkdb discharge and strip", () => {
  it("discharge (API role) turns petsem's ticket and the user's bundle into one discharge on stdout", async () => {
    const header = await login();
    const reader = readerToken();
    const r = await run(
      ["discharge", "--ticket", reader.toString(), "--user-token", "-", "--org", "5", "--app", "7"],
      online,
      header,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fm2_\S+\n$/);
    const view = JSON.parse((await run(["token", "inspect", r.stdout.trim(), "--json"], {})).stdout);
    expect(view).toMatchObject({ role: "discharge", location: DEFAULT_LOCATION, status: "valid" });
    expect(view.caveats.map((c: { type: string }) => c.type)).toContain("SecretScope");
    // The ticket itself (base64) works as well as the reader token that carries it.
    const ticket = base64Encode(reader.thirdPartyTickets().get(DEFAULT_LOCATION)?.[0] as Uint8Array);
    const r2 = await run(
      ["discharge", "--ticket", ticket, "--user-token", "-", "--org", "5", "--app", "7", "--json"],
      online,
      header,
    );
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ discharge: expect.stringMatching(/^fm2_/) });
  });

  it("discharge for another org is refused (exit 1) with the server's reason and URL", async () => {
    const header = await login();
    const r = await run(
      ["discharge", "--ticket", readerToken().toString(), "--user-token", "-", "--org", "9", "--app", "7"],
      online,
      header,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("another organization");
    expect(r.stderr).toContain(server.url);
  });

  it("token strip prints the service token alone", async () => {
    const r = await run(["token", "strip", "-"], online, await login());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fm2_\S+\n$/);
  });
});

describe("tkdb token revoke", () => {
  it("revokes online over Noise KK (stdin), after which verify exits 1 as revoked", async () => {
    const header = await login();
    const r = await run(["token", "revoke", "-", "--online"], online, header);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^revoked /);
    expect(r.stderr).toContain(`revoked by tkdb at ${server.url}`);
    const v = await run(["token", "verify", "-"], online, header);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain("revoked");
  });

  it("revokes on the local database by default and with --local, even with a signing key configured", async () => {
    for (const argv of [
      ["token", "revoke", "-", "--local", "--json"],
      ["token", "revoke", "-", "--json"],
    ]) {
      const header = await login();
      const r = await run(argv, { ...local, ...online }, header);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ revoked: true });
      const v = await run(["token", "verify", "-"], online, header);
      expect(v.code, argv.join(" ")).toBe(1);
      expect(v.stderr).toContain("revoked");
    }
  });
});

describe("tkdb online errors", () => {
  it("a signing key not on TKDB_SIGN_CLIENTS is refused (exit 1) saying so, not as an HTTP status", async () => {
    const r = await run(["dev", "login", "--org", "5", "--user", "1"], {
      ...dev,
      TKDB_CLIENT_KEY: hex(stranger.secretKey),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("TKDB_SIGN_CLIENTS");
    expect(r.stderr).not.toContain("unexpected HTTP status");
  });

  it("a listed key without the op is refused with the op to add to its TKDB_SIGN_CLIENTS entry", async () => {
    const r = await run(["token", "revoke", "AAAA", "--online"], {
      ...online,
      TKDB_CLIENT_KEY: hex(mintOnly.secretKey),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("forbidden");
    expect(r.stderr).toMatch(/add revoke .*TKDB_SIGN_CLIENTS/);
  });

  it("a wrong TKDB_SERVER_PUBLIC_KEY is named (exit 1); nothing listening exits 3 naming the URL", async () => {
    const header = await login();
    const wrong = await run(
      ["token", "verify", "-"],
      { ...online, TKDB_SERVER_PUBLIC_KEY: hex(stranger.publicKey) },
      header,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("TKDB_SERVER_PUBLIC_KEY");
    const gone = await run(["token", "verify", "-"], { ...online, TKDB_URL: "http://127.0.0.1:1" }, header);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain("http://127.0.0.1:1");
    const json = await run(
      ["token", "verify", "-", "--json"],
      { ...online, TKDB_URL: "http://127.0.0.1:1" },
      header,
    );
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { exit: 3 } });
  });

  it("online commands without TKDB_SERVER_PUBLIC_KEY are a usage error (exit 2) naming the variable", async () => {
    const r = await run(["token", "verify", "-"], { TKDB_URL: server.url }, await login());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("TKDB_SERVER_PUBLIC_KEY");
  });
});
