/**
 * The bare floor: node:http reading a JSON body and answering one, in its own process, on
 * 127.0.0.1. Prints one JSON line {"url": "..."} once listening; SIGTERM stops it.
 */
import { createServer } from "node:http";

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let n;
    try {
      n = JSON.parse(Buffer.concat(chunks).toString("utf8")).n;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const body = JSON.stringify({ ok: true, echo: n });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}/` }));
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
