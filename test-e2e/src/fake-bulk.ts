/**
 * Test helper for the audit-stream e2e tests: a fake OpenSearch `_bulk` endpoint on loopback that
 * `audit export --ship` can post to.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A stand-in for OpenSearch's `_bulk` on 127.0.0.1: `create` semantics (409 for an id it holds). */
export async function fakeBulk(): Promise<{
  url: string;
  ids: Set<string>;
  indices: Set<string>;
  close(): Promise<void>;
}> {
  const ids = new Set<string>();
  const indices = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || !req.url?.endsWith("/_bulk")) {
        res.writeHead(404).end("{}");
        return;
      }
      const lines = Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
      const items: unknown[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const meta = (JSON.parse(lines[i] as string) as { create?: { _index: string; _id: string } }).create;
        JSON.parse(lines[i + 1] as string);
        if (meta === undefined) {
          items.push({ index: { status: 400, error: { type: "not_create" } } });
          continue;
        }
        indices.add(meta._index);
        items.push({ create: { _id: meta._id, status: ids.has(meta._id) ? 409 : 201 } });
        ids.add(meta._id);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          errors: items.some((x) => (x as { create?: { status: number } }).create?.status !== 201),
          items,
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ids,
    indices,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
