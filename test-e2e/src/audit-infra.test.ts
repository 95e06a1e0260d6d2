/**
 * infra/audit agrees with @tkdb/audit: the Vector config reads the files the writer creates and
 * builds the documents export builds; the OpenSearch template maps exactly the package's fields
 * with their types, matches its index names and states its retention; and `audit export` ships a
 * real log to a fake `_bulk` endpoint that enforces that template's mapping. Neither Vector nor
 * OpenSearch can be installed here, so this is the check (infra/audit/README.md).
 *
 * The package is imported by path (test-e2e does not depend on @tkdb/audit yet).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  AUDIT_FIELDS,
  AuditLog,
  auditExportCommand,
  CHECKPOINT_FILE,
  EXPORT_FIELDS,
  eventId,
  indexName,
  noiseActor,
  SEGMENT_GLOB,
  tokenRef,
  verifyShipped,
} from "../../packages/audit/src/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const read = (...p: string[]) => readFileSync(join(ROOT, ...p), "utf8");
// biome-ignore lint/suspicious/noExplicitAny: parsed config files, checked field by field below
type Parsed = any;
const vector = parseYaml(read("infra/audit/vector.yaml")) as Parsed;
const template = JSON.parse(read("infra/audit/opensearch-template.json")) as Parsed;
/** Vector's environment interpolation, as it appears in the file (not a JS template). */
const env = (name: string) => `\${${name}}`;
const DOC_FIELDS: Record<string, string> = { ...AUDIT_FIELDS, ...EXPORT_FIELDS };
const PREFIXES = ["tkdb-audit", "petsem-audit"];

/** A shell glob (`*` only) as a RegExp. */
const globRe = (g: string) =>
  new RegExp(
    `^${g
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]*")}$`,
  );

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "audit-infra-"));
  const actor = noiseActor(new Uint8Array(32).fill(9));
  const log = await AuditLog.open(dir, { node: "iad-7", timers: false, maxFileBytes: 4096 });
  // kid 16 bytes, rnd 16 bytes, proof false: a permission token's nonce as tkdb's nonceId writes it.
  const nonce = Buffer.concat([
    Buffer.from([0x93, 0xc4, 16]),
    Buffer.alloc(16, 1),
    Buffer.from([0xc4, 16]),
    Buffer.alloc(16, 2),
    Buffer.from([0xc2]),
  ]).toString("base64");
  for (let i = 0; i < 30; i++) {
    const intent = await log.appendDurable({
      kind: "intent",
      op: "mint",
      actor,
      org: "org-1",
      rid: `rid-${i}`,
    });
    await log.appendDurable({
      kind: "outcome",
      op: "mint",
      actor,
      intent_seq: intent.seq,
      outcome: "ok",
      org: "org-1",
      ...tokenRef(nonce, new Uint8Array(32).fill(i)),
    });
    log.appendBuffered({
      kind: "event",
      op: "verify",
      actor: "anonymous",
      outcome: "refused",
      code: "revoked",
      nonce,
    });
    log.count({ op: "revocations", actor });
  }
  log.flushCounters();
  await log.appendDurable({
    kind: "event",
    op: "resolve",
    actor,
    outcome: "ok",
    org: "org-1",
    app: "web",
    names: ["DATABASE_URL"],
    user: "u-1",
    version: 4,
    location: "https://api.fly.io/v1",
  });
  await log.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("infra/audit/vector.yaml", () => {
  it("reads exactly the segment files and the checkpoint sidecar the writer creates", () => {
    const written = readdirSync(dir);
    const logGlobs = vector.sources.audit_log.include as string[];
    const headGlobs = vector.sources.audit_heads.include as string[];
    expect(logGlobs).toContain(`\${AUDIT_DIR}/${SEGMENT_GLOB}`);
    expect(headGlobs).toContain(`\${AUDIT_DIR}/${CHECKPOINT_FILE}`);
    const base = (g: string) => g.replace(/^\$\{AUDIT_DIR\}\//, "");
    const segments = written.filter((f) => logGlobs.some((g) => globRe(base(g)).test(f)));
    expect(segments.length).toBeGreaterThan(1);
    expect(segments.sort()).toEqual(written.filter((f) => f.startsWith("audit-")).sort());
    expect(written.filter((f) => headGlobs.some((g) => globRe(base(g)).test(f)))).toEqual([CHECKPOINT_FILE]);
    for (const s of ["audit_log", "audit_heads"]) {
      expect(vector.sources[s].type).toBe("file");
      expect(vector.sources[s].read_from).toBe("beginning");
    }
    expect(vector.data_dir).toMatch(/^\$\{AUDIT_DIR\}\//);
  });

  it("decodes JSON and builds event_id and @timestamp as the package's export does", () => {
    const remap = vector.transforms.audit_parse;
    expect(remap.inputs.sort()).toEqual(["audit_heads", "audit_log"]);
    expect(remap.source).toContain("parse_json!");
    expect(remap.drop_on_error && remap.reroute_dropped).toBe(true);
    // The VRL formula, field by field, against eventId().
    expect(remap.source).toContain(
      '.event_id = string!(.node) + ":" + to_string!(.seq) + ":" + slice!(string!(.hash), 0, 16)',
    );
    expect(remap.source).toContain('.event_id = string!(.node) + ":head:" + to_string!(.seq)');
    expect(eventId({ node: "n", seq: 3, hash: "ab".repeat(32), kind: "event" })).toBe(
      `n:3:${"ab".repeat(8)}`,
    );
    expect(eventId({ node: "n", seq: 3, hash: "ab".repeat(32), kind: "head" })).toBe("n:head:3");
    for (const f of ["node", "seq", "hash", "ts", "kind"]) expect(Object.keys(AUDIT_FIELDS)).toContain(f);
    expect(vector.log_schema.timestamp_key).toBe("@timestamp");
  });

  it("bulk-creates into a per-day index with the event id, acknowledged and buffered on disk", () => {
    const sink = vector.sinks.opensearch;
    expect(sink.type).toBe("elasticsearch");
    expect(sink.inputs).toEqual(["audit_parse"]);
    expect(sink.mode).toBe("bulk");
    expect(sink.bulk.action).toBe("create");
    expect(sink.bulk.index).toBe(`${env("AUDIT_INDEX_PREFIX")}-%Y.%m.%d`);
    expect(sink.id_key).toBe("event_id");
    expect(Object.keys(EXPORT_FIELDS)).toContain(sink.id_key);
    expect(sink.acknowledgements.enabled).toBe(true);
    expect(sink.buffer).toMatchObject({ type: "disk", when_full: "block" });
    expect(sink.buffer.max_size).toBeGreaterThanOrEqual(256 * 1024 * 1024);
    expect(sink.endpoints).toEqual([env("OPENSEARCH_URL")]);
    expect(sink.auth.password).toBe(env("OPENSEARCH_PASSWORD"));
    expect(vector.sinks.audit_unparsed.inputs).toEqual(["audit_parse.dropped"]);
  });
});

describe("infra/audit/opensearch-template.json", () => {
  const mappings = template.index_template.template.mappings;

  it("maps every field of the event format and export, with the package's type, and nothing else", () => {
    expect(mappings.dynamic).toBe("strict");
    const mapped = Object.fromEntries(
      Object.entries(mappings.properties as Record<string, { type: string }>).map(([k, v]) => [k, v.type]),
    );
    expect(mapped).toEqual(DOC_FIELDS);
  });

  it("matches the index names export and Vector write, for both services", () => {
    const patterns = (template.index_template.index_patterns as string[]).map((p) => globRe(p));
    for (const prefix of PREFIXES)
      expect(patterns.some((re) => re.test(indexName(prefix, "2025-06-30T23:59:00.000Z")))).toBe(true);
    expect(template.ism_policy.policy.ism_template[0].index_patterns).toEqual(
      template.index_template.index_patterns,
    );
  });

  it("states the retention: delete at 400 days, read-only after 30, with the reason", () => {
    const states = template.ism_policy.policy.states as {
      name: string;
      actions: Record<string, unknown>[];
      transitions: { state_name: string; conditions: { min_index_age: string } }[];
    }[];
    const toDelete = states.flatMap((s) => s.transitions).find((t) => t.state_name === "delete");
    expect(toDelete?.conditions.min_index_age).toBe("400d");
    expect(states.find((s) => s.name === "delete")?.actions).toEqual([{ delete: {} }]);
    expect(states.find((s) => s.name === "warm")?.actions).toContainEqual({ read_only: {} });
    expect(template.ism_policy.policy.description).toMatch(/400 days/);
  });
});

describe("where the log lives (infra/audit/README.md against fly.toml and litefs.yml)", () => {
  it("puts each app's log on its volume and outside the LiteFS FUSE mount", () => {
    const readme = read("infra/audit/README.md");
    const dirs = Object.fromEntries(
      [...readme.matchAll(/^\| (tkdb|petsem) \| (\/\S+) \| (\/\S+) \|/gm)].map((m) => [
        m[1],
        { dir: m[2], mount: m[3] },
      ]),
    );
    for (const app of ["tkdb", "petsem"]) {
      const fly = parseToml(read(`infra/${app}/fly.toml`)) as { mounts: { destination: string } };
      expect(dirs[app]?.mount).toBe(fly.mounts.destination);
      expect(dirs[app]?.dir.startsWith(`${fly.mounts.destination}/`)).toBe(true);
    }
    const fuse = (parseYaml(read("infra/tkdb/litefs.yml")) as { fuse: { dir: string } }).fuse.dir;
    expect(dirs.tkdb?.dir.startsWith(`${fuse}/`)).toBe(false);
  });
});

/** A `_bulk` endpoint that enforces the template's strict mapping and its index patterns. */
async function strictBulk() {
  const docs: Record<string, unknown>[] = [];
  const props = mappings();
  const patterns = (template.index_template.index_patterns as string[]).map(globRe);
  const typeOk = (type: string, v: unknown): boolean => {
    const values = Array.isArray(v) ? v : [v];
    return values.every((x) =>
      type === "keyword"
        ? typeof x === "string"
        : type === "date"
          ? typeof x === "string" && !Number.isNaN(Date.parse(x))
          : type === "boolean"
            ? typeof x === "boolean"
            : Number.isSafeInteger(x),
    );
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const lines = body.split("\n").filter(Boolean);
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        const { create } = JSON.parse(lines[i] as string) as { create: { _index: string; _id: string } };
        const doc = JSON.parse(lines[i + 1] as string) as Record<string, unknown>;
        const bad =
          !patterns.some((p) => p.test(create._index)) ||
          Object.entries(doc).some(([k, v]) => props[k] === undefined || !typeOk(props[k] as string, v));
        if (bad)
          items.push({
            create: { _id: create._id, status: 400, error: { type: "strict_dynamic_mapping_exception" } },
          });
        else {
          docs.push(doc);
          items.push({ create: { _id: create._id, status: 201 } });
        }
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ errors: items.some((x) => x.create.status !== 201), items }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    docs,
    close: () => new Promise((r) => server.close(r)),
  };
}

function mappings(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(
      template.index_template.template.mappings.properties as Record<string, { type: string }>,
    ).map(([k, v]) => [k, v.type]),
  );
}

describe("audit export to a _bulk endpoint", () => {
  it("ships every line and checkpoint of a real log into the template's mapping, and the shipped stream verifies", async () => {
    const bulk = await strictBulk();
    try {
      let out = "";
      const code = await auditExportCommand(
        dir,
        { indexPrefix: "tkdb-audit", shipUrl: bulk.url, batch: 25 },
        {
          out: (t) => {
            out += t;
          },
        },
      );
      expect(code).toBe(0);
      const r = JSON.parse(out) as { documents: number; created: number };
      expect(r.created).toBe(r.documents);
      expect(bulk.docs.length).toBe(r.documents);
      expect(new Set(bulk.docs.map((d) => d.kind))).toEqual(
        new Set(["checkpoint", "intent", "outcome", "event", "counter", "head"]),
      );
      expect(verifyShipped(bulk.docs)).toMatchObject({ ok: true, nodes: [{ node: "iad-7" }] });
    } finally {
      await bulk.close();
    }
  });
});
