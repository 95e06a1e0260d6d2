/**
 * The framework floor: the same JSON echo on Hono and @hono/node-server (what tkdb and petsem are
 * built on), in its own process, on 127.0.0.1. Prints {"url": "..."} once listening.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.post("/", async (c) => {
  let body;
  try {
    body = await c.req.json();
  } catch {
    return c.body(null, 400);
  }
  return c.json({ ok: true, echo: body.n });
});
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${info.port}/` }));
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
