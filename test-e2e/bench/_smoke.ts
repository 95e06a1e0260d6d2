import { runDistributed } from "./loadgen/coordinator.js";
import { runAutocannon } from "./loadgen/autocannon.js";
import { echoNode, echoHono, startPeer } from "./peer/servers.js";
const e = await echoNode();
const h = await echoHono();
const p = await startPeer();
try {
  for (const [procs, callers] of [[1, 8], [2, 4]] as const) {
    const r = await runDistributed({ name: "echo", spec: { kind: "echo", url: e.url }, processes: procs, callersPerProcess: callers, count: 20000, maxMs: 3000, serverPids: [e.pid] });
    console.log(JSON.stringify(r));
  }
  console.log(JSON.stringify(await runDistributed({ name: "hono", spec: { kind: "echo", url: h.url }, processes: 1, callersPerProcess: 8, count: 20000, maxMs: 3000, serverPids: [h.pid] })));
  console.log(JSON.stringify(await runDistributed({ name: "peer", spec: { kind: "introspect", url: p.introspectionUrl, clientId: p.clientId, clientSecret: p.clientSecret, token: p.token }, processes: 1, callersPerProcess: 8, count: 20000, maxMs: 3000, serverPids: [p.pid] })));
  console.log(JSON.stringify(await runAutocannon({ url: e.url, method: "POST", headers: { "content-type": "application/json" }, body: '{"n":1}', connections: 8, seconds: 3, warmupSeconds: 1 })));
} finally { await e.stop(); await h.stop(); await p.stop(); }
