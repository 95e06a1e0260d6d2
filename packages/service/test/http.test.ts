import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ServiceError } from "../src/errors.js";
import { type FetchHandler, type Listening, listen, resolveLimits } from "../src/http.js";
import { addressBucket } from "../src/http-address.js";

const open: Listening[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(open.splice(0).map((l) => l.close(0)));
});

async function serve(
  handler: FetchHandler,
  opts: Partial<Parameters<typeof listen>[1]> = {},
): Promise<Listening> {
  const l = await listen(handler, { host: "127.0.0.1", port: 0, ...opts });
  open.push(l);
  return l;
}

/** A raw TCP connection; resolves once connected. */
function rawConnect(l: Listening, localAddress = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: l.port, localAddress }, () => resolve(s));
    s.on("error", () => {});
    s.once("error", reject);
    sockets.push(s);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.once("close", () => r())));
}

/** One plain HTTP request on a fresh connection: status and body. */
function post(
  url: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
  localAddress?: string,
) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = request(
        url,
        { method: "POST", agent: false, headers, ...(localAddress ? { localAddress } : {}) },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    },
  );
}

const echo: FetchHandler = async (req, env) =>
  new Response(
    JSON.stringify({
      path: new URL(req.url).pathname,
      body: await req.text(),
      addr: env.incoming.socket.remoteAddress,
    }),
    {
      headers: { "content-type": "application/json", "x-test": "1" },
    },
  );

describe("listen", () => {
  it("serves a fetch handler and passes the socket's remote address (not a header)", async () => {
    const l = await serve(echo);
    expect(l.url).toBe(`http://127.0.0.1:${l.port}`);
    const r = await post(`${l.url}/noise/v1/verify/verify`, "hello", { "x-forwarded-for": "10.9.9.9" });
    expect(r.status).toBe(200);
    expect(r.headers["x-test"]).toBe("1");
    expect(JSON.parse(r.body)).toEqual({ path: "/noise/v1/verify/verify", body: "hello", addr: "127.0.0.1" });
  });

  it("a node:http front serves its own routes and passes the rest to the fetch handler", async () => {
    const l = await serve(echo, {
      front: (rest) => (req, res) => {
        if (req.url === "/fast") res.writeHead(200, { "content-type": "text/plain" }).end("front");
        else rest(req, res);
      },
    });
    expect((await post(`${l.url}/fast`, "")).body).toBe("front");
    expect(JSON.parse((await post(`${l.url}/other`, "x")).body)).toMatchObject({ path: "/other", body: "x" });
    await l.close(1_000);
  });

  it("the request URL is built from the listen address: a // path or a Host header cannot move it", async () => {
    let seen = "";
    const l = await serve((req) => {
      seen = req.url;
      return new Response("ok");
    });
    await post(`${l.url}//evil.example/noise/v1/verify/verify`, "", { host: "evil.example" });
    expect(seen).toBe(`${l.url}//evil.example/noise/v1/verify/verify`);
    expect(new URL(seen).host).toBe(`127.0.0.1:${l.port}`);
  });

  it("a body over the limit by Content-Length is refused with 413 before the handler runs", async () => {
    let called = false;
    const l = await serve(
      (req, env) => {
        called = true;
        return echo(req, env);
      },
      { maxBodyBytes: 1024 },
    );
    expect((await post(l.url, Buffer.alloc(1025))).status).toBe(413);
    expect(called).toBe(false);
    expect((await post(l.url, Buffer.alloc(1024))).status).toBe(200);
  });

  it("a chunked body that grows past the limit is cut with 413 while streaming", async () => {
    const l = await serve(echo, { maxBodyBytes: 1024 });
    const r = await new Promise<number>((resolve, reject) => {
      const req = request(l.url, { method: "POST", agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 8; i++) req.write(Buffer.alloc(512));
      req.end();
    });
    expect(r).toBe(413);
  });

  it("a handler that throws gives a bare 500 and is reported to onError", async () => {
    const errors: unknown[] = [];
    const l = await serve(
      () => {
        throw new Error("kaput");
      },
      { onError: (e) => errors.push(e) },
    );
    const r = await post(l.url, "");
    expect(r).toMatchObject({ status: 500, body: "" });
    expect((errors[0] as Error).message).toBe("kaput");
  });

  it("refuses to start without a host, with bad limits, or on a port in use (naming the port)", async () => {
    await expect(listen(echo, { host: "", port: 0 })).rejects.toThrow(/needs a host/);
    expect(() => resolveLimits({ headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 })).toThrow(
      /headersTimeoutMs/,
    );
    expect(() => resolveLimits({ maxConnections: 0 })).toThrow(/positive integer/);
    const l = await serve(echo);
    const e = await listen(echo, { host: "127.0.0.1", port: l.port }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ServiceError);
    expect((e as ServiceError).code).toBe("config");
    expect((e as ServiceError).message).toBe(`cannot listen on 127.0.0.1:${l.port} (EADDRINUSE)`);
  });

  it("defaults are at least as strict as the apps' limits (10 s timeouts, capped connections)", () => {
    const d = resolveLimits({});
    expect(d.requestTimeoutMs).toBeLessThanOrEqual(10_000);
    expect(d.headersTimeoutMs).toBeLessThanOrEqual(10_000);
    expect(d.maxConnections).toBeLessThanOrEqual(2048);
    expect(d.maxConnectionsPerAddress).toBeLessThanOrEqual(256);
  });
});

describe("connection limits", () => {
  it("a client that sends headers byte by byte is disconnected after the header timeout", async () => {
    const l = await serve(echo, { headersTimeoutMs: 500, requestTimeoutMs: 500, checkIntervalMs: 100 });
    const s = await rawConnect(l);
    s.write("POST / HTTP/1.1\r\nHost: x\r\n");
    const timer = setInterval(() => s.writable && s.write("X-Slow: 1\r\n"), 50);
    await closed(s);
    clearInterval(timer);
    expect(s.destroyed).toBe(true);
  }, 30_000);

  it("one address cannot take every connection slot; another address is still served", async () => {
    const l = await serve(echo, { maxConnectionsPerAddress: 2 });
    await rawConnect(l);
    await rawConnect(l);
    const third = await rawConnect(l);
    await closed(third);
    const r = await post(l.url, "x", {}, "127.0.0.2");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).addr).toBe("127.0.0.2");
  }, 30_000);

  it("connections beyond the total cap are closed", async () => {
    const l = await serve(echo, { maxConnections: 2 });
    await rawConnect(l, "127.0.0.3");
    await rawConnect(l, "127.0.0.4");
    const third = await rawConnect(l, "127.0.0.5");
    await closed(third);
  }, 30_000);

  it("IPv6 addresses are bucketed per /64, IPv4-mapped as IPv4", () => {
    expect(addressBucket("2001:db8:1:2:aaaa::1")).toBe(addressBucket("2001:db8:1:2:bbbb::2"));
    expect(addressBucket("2001:db8:1:3::1")).not.toBe(addressBucket("2001:db8:1:2::1"));
    expect(addressBucket("::ffff:10.0.0.1")).toBe("10.0.0.1");
    expect(addressBucket(undefined)).toBe("unknown");
  });
});

describe("close", () => {
  it("stops accepting, lets an in-flight request finish with Connection: close, then resolves", async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((r) => (entered = r));
    const l = await serve(async () => {
      entered();
      await new Promise<void>((r) => (release = r));
      return new Response("done");
    });
    const pending = post(l.url, "x");
    await inHandler;
    expect(l.inFlight).toBe(1);
    const closing = l.close(60_000);
    await expect(rawConnect(l)).rejects.toThrow(/ECONNREFUSED/);
    release();
    const r = await pending;
    expect(r).toMatchObject({ status: 200, body: "done" });
    expect(r.headers.connection).toBe("close");
    await closing;
    expect(l.inFlight).toBe(0);
  }, 30_000);

  it("after the grace, requests still running are cut and close resolves", async () => {
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((r) => (entered = r));
    const l = await serve(() => {
      entered();
      return new Promise<Response>(() => {});
    });
    const pending = post(l.url, "x").then(
      () => "answered",
      () => "cut",
    );
    await inHandler;
    await l.close(100);
    expect(await pending).toBe("cut");
  }, 30_000);

  it("idle keep-alive connections do not hold close, and close is idempotent", async () => {
    const l = await serve(echo);
    const res = await fetch(l.url, { method: "POST", body: "k" });
    expect(res.status).toBe(200);
    await res.text();
    const a = l.close(60_000);
    expect(l.close(60_000)).toBe(a);
    await a;
  }, 30_000);
});
