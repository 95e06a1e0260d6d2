/**
 * The operations a load-generator worker runs, built from a WorkloadSpec inside the worker. Plain
 * HTTP goes through one undici Pool per origin (keep-alive, one connection per caller); the Noise
 * clients (@tkdb/client, public API only) get the same pool through a fetch-shaped adapter, or
 * Node's global fetch. Every operation checks its answer: a wrong answer throws and is an error.
 */
import { flyRegistry } from "@tkdb/caveats";
import { PetsemClient, TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { Pool } from "undici";
import { one, TKDB_LOCATION } from "../../src/flow.js";
import type { EndpointSpec, FetchImpl, FlowSpec, WorkloadSpec } from "./protocol.js";

export type Op = (i: number) => Promise<void>;

export interface Built {
  op: Op;
  close(): Promise<void>;
}

const check = (cond: boolean, what: string) => {
  if (!cond) throw new Error(`wrong answer: ${what}`);
};

/** One keep-alive pool per origin, `connections` sockets at most (one per caller in flight). */
class Pools {
  private readonly pools = new Map<string, Pool>();
  constructor(private readonly connections: number) {}
  get(origin: string): Pool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      p = new Pool(origin, {
        connections: this.connections,
        pipelining: 1,
        keepAliveTimeout: 60_000,
        keepAliveMaxTimeout: 600_000,
      });
      this.pools.set(origin, p);
    }
    return p;
  }
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

/**
 * `fetch` as the Noise client calls it (a POST with a byte body, headers as an object, a signal),
 * over the generator's pool: the Noise workloads and the plain ones then share one HTTP client.
 * It answers with only what @tkdb/noise reads of a Response (status, headers.get, the body as
 * bytes, cancel), not a WHATWG Response: building Headers, a Response and its web stream per call
 * cost the generator more than the RPC's own work.
 */
function poolFetch(pools: Pools): typeof fetch {
  const origins = new Map<string, { origin: string; path: string }>();
  const f = async (input: string | URL | Request, init?: RequestInit) => {
    const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    let t = origins.get(href);
    if (t === undefined) {
      const url = new URL(href);
      t = { origin: url.origin, path: `${url.pathname}${url.search}` };
      origins.set(href, t);
    }
    const r = await pools.get(t.origin).request({
      path: t.path,
      method: (init?.method ?? "GET") as "POST",
      headers: init?.headers as Record<string, string> | undefined,
      body: init?.body as Uint8Array | string | undefined,
      signal: init?.signal ?? undefined,
    });
    const h = r.headers;
    return {
      status: r.statusCode,
      headers: {
        get: (name: string) => {
          const v = h[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
        },
      },
      body: {
        cancel: async () => {
          r.body.destroy();
        },
        getReader: () => {
          const it = r.body[Symbol.asyncIterator]();
          return { read: () => it.next(), cancel: async () => r.body.destroy() };
        },
      },
      arrayBuffer: () => r.body.arrayBuffer(),
    };
  };
  return f as unknown as typeof fetch;
}

/** The same over a WHATWG Response per call (what the pool adapter was; for comparison). */
function poolWebFetch(pools: Pools): typeof fetch {
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const r = await pools.get(url.origin).request({
      path: `${url.pathname}${url.search}`,
      method: (init?.method ?? "GET") as "POST",
      headers: init?.headers as Record<string, string> | undefined,
      body: init?.body as Uint8Array | string | undefined,
      signal: init?.signal ?? undefined,
    });
    const body = await r.body.arrayBuffer();
    const headers = new Headers();
    for (const [k, v] of Object.entries(r.headers)) {
      if (v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
    }
    const nullBody = r.statusCode === 204 || r.statusCode === 304;
    return new Response(nullBody ? null : body, { status: r.statusCode, headers });
  };
  return f as typeof fetch;
}

const key = (e: EndpointSpec) => ({
  url: e.url,
  serverPublicKey: new Uint8Array(Buffer.from(e.publicKeyHex, "hex")),
});

async function flowOps(flow: FlowSpec, fetchImpl: typeof fetch | undefined) {
  const tkdb = new TkdbClient({
    endpoints: [key(flow.tkdb)],
    registry: flyRegistry,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  const secrets = new PetsemClient({
    endpoints: [key(flow.petsem)],
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  const reader = one(flow.reader);
  const ticket = reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("the reader token has no tkdb caveat");
  const users = flow.userHeaders;
  const user = (i: number) => users[i % users.length] as string;
  const names = Object.keys(flow.values).length;
  const discharge = async (i: number) => {
    const d = await tkdb.discharge({ ticket, userHeader: user(i), org: flow.org, app: flow.app });
    check(typeof d === "string" && d.length > 0, "discharge is a token");
    return d;
  };
  const resolveWith = async (header: string) => {
    const r = await secrets.resolve(header, flow.org, flow.app, flow.minVersion);
    check(r.secrets.length === names, "resolve returned every secret");
    check(
      r.secrets.every((s) => flow.values[s.name] === s.value),
      "resolve returned the written values",
    );
  };
  return { tkdb, user, discharge, resolveWith, reader };
}

export async function buildOp(spec: WorkloadSpec, callers: number, fetchImpl: FetchImpl): Promise<Built> {
  const pools = new Pools(callers);
  const close = () => pools.close();
  switch (spec.kind) {
    case "echo": {
      const u = new URL(spec.url);
      const pool = pools.get(u.origin);
      return {
        op: async (i) => {
          const r = await pool.request({
            path: u.pathname,
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ n: i }),
          });
          const j = (await r.body.json()) as { echo?: unknown };
          check(r.statusCode === 200 && j.echo === i, "echo");
        },
        close,
      };
    }
    case "introspect": {
      const u = new URL(spec.url);
      const pool = pools.get(u.origin);
      const auth = `Basic ${Buffer.from(
        `${encodeURIComponent(spec.clientId)}:${encodeURIComponent(spec.clientSecret)}`,
      ).toString("base64")}`;
      const body = new URLSearchParams({ token: spec.token }).toString();
      return {
        op: async () => {
          const r = await pool.request({
            path: u.pathname,
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", authorization: auth },
            body,
          });
          const j = (await r.body.json()) as { active?: unknown; client_id?: unknown };
          check(r.statusCode === 200 && j.active === true && j.client_id === spec.clientId, "introspection");
        },
        close,
      };
    }
    default: {
      const transport = {
        pool: () => poolFetch(pools),
        "pool-web": () => poolWebFetch(pools),
        fetch: () => globalThis.fetch,
        global: () => undefined,
      }[fetchImpl]();
      const f = await flowOps(spec.flow, transport);
      const org = spec.flow.org;
      if (spec.kind === "verify")
        return {
          op: async (i) => {
            const v = await f.tkdb.verify(f.user(i));
            check(v.org === org, "verify names the org");
          },
          close,
        };
      if (spec.kind === "discharge")
        return {
          op: async (i) => {
            await f.discharge(i);
          },
          close,
        };
      if (spec.kind === "boot")
        return {
          op: async (i) => {
            const d = await f.discharge(i);
            await f.resolveWith(encodeAuthorizationHeader([f.reader, one(d)]));
          },
          close,
        };
      // resolve: one discharge per user got now (tkdb's discharge TTL is minutes, a run is seconds),
      // as flyd reuses a discharge while it is valid.
      const headers: string[] = [];
      for (let u = 0; u < spec.flow.userHeaders.length; u++)
        headers.push(encodeAuthorizationHeader([f.reader, one(await f.discharge(u))]));
      return {
        op: (i) => f.resolveWith(headers[i % headers.length] as string),
        close,
      };
    }
  }
}
