/**
 * The Hono app: one route, `POST /noise/v1/secrets/:op`, handled by @tkdb/noise's IK responder.
 * No admin endpoints, no other routes. Errors that escape (none should: the Noise handler turns op
 * errors into encrypted responses) become a bare 500 in one place.
 *
 * On node:http the same handler answers that route without Hono (`front`, as in tkdb: no fetch
 * Request/Response per call; @tkdb/noise node-http.ts); every other request goes on to the app.
 */
import {
  createNoiseHandler,
  type KeyPair,
  type NodeListener,
  type NodeRequestLike,
  type NoiseServerEvent,
  nodeNoiseListener,
} from "@tkdb/noise";
import { Hono } from "hono";
import type { PetsemAudit } from "./audit-log.js";
import { type Authorizer, petsemOps } from "./rpc/index.js";
import type { SecretStore } from "./store.js";
import type { PetsemTelemetry } from "./telemetry.js";
import { MAX_RESPONSE_BYTES } from "./validate.js";

export interface PetsemAppOptions {
  readonly store: SecretStore;
  readonly authorizer: Authorizer;
  /** every op but health is audited through it (audit-log.ts) */
  readonly audit: PetsemAudit;
  readonly staticKeyPair: KeyPair;
  readonly backend?: "native" | "noble";
  readonly now?: () => number;
  readonly onEvent?: (e: NoiseServerEvent) => void;
  /** Spans per RPC and metrics (telemetry.ts); absent: neither. */
  readonly telemetry?: PetsemTelemetry;
}

export interface PetsemRoutes {
  readonly app: Hono;
  /** node:http listener for the Noise route, passing everything else to `rest` (the app's listener) */
  front(rest: NodeListener): NodeListener;
}

const NOISE_PREFIX = "/noise/v1/secrets/";

/**
 * Only what the Hono route would take skips it: a POST to `/noise/v1/secrets/<op>` (one path
 * segment) whose declared length is within the listener's body limit. Anything else goes to the
 * app as before (404s, and the listener's 413 for a declared oversized body).
 */
function isNoiseRoute(req: NodeRequestLike, maxBodyBytes: number): boolean {
  if (req.method !== "POST") return false;
  const url = req.url ?? "";
  if (!url.startsWith(NOISE_PREFIX)) return false;
  const q = url.indexOf("?");
  const op = url.slice(NOISE_PREFIX.length, q < 0 ? url.length : q);
  if (op === "" || op.includes("/")) return false;
  const declared = Number(req.headers["content-length"] ?? "0");
  return Number.isSafeInteger(declared) && declared >= 0 && declared <= maxBodyBytes;
}

export function createPetsemApp(opts: PetsemAppOptions): Hono {
  return petsemRoutes(opts, Number.POSITIVE_INFINITY).app;
}

/** The app and its node:http front; `maxBodyBytes` is the listener's body limit. */
export function petsemRoutes(opts: PetsemAppOptions, maxBodyBytes: number): PetsemRoutes {
  const { telemetry } = opts;
  const { audit } = opts;
  const ops = audit.wrapOps(
    petsemOps({ store: audit.wrapStore(opts.store), authorizer: audit.wrapAuthorizer(opts.authorizer) }),
  );
  const onEvent =
    telemetry === undefined
      ? opts.onEvent
      : (e: NoiseServerEvent) => {
          telemetry.onEvent(e);
          opts.onEvent?.(e);
        };
  const handler = createNoiseHandler({
    api: "secrets",
    pattern: "IK",
    staticKeyPair: opts.staticKeyPair,
    ops: telemetry === undefined ? ops : telemetry.traced(ops),
    // The worst-case resolve must always fit (validate.ts, security issue 12 item 6).
    maxResponseBytes: MAX_RESPONSE_BYTES,
    // Every op but health carries a petsem token (and set/import carry values): session only,
    // never in handshake message 1 (security issue 12 item 10).
    messageOneOps: ["health"],
    ...(opts.backend === undefined ? {} : { backend: opts.backend }),
    ...(opts.now === undefined ? {} : { now: opts.now }),
    ...(onEvent === undefined ? {} : { onEvent }),
  });
  const app = new Hono();
  app.post("/noise/v1/secrets/:op", (c) =>
    handler(c.req.raw, {
      // the socket's address (never a client header): the unit of the per-source budgets
      remoteAddress: (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
        ?.socket?.remoteAddress,
    }),
  );
  app.notFound(() => new Response(null, { status: 404 }));
  app.onError(() => new Response(null, { status: 500 }));
  const front = (rest: NodeListener): NodeListener => {
    const noise = nodeNoiseListener([handler], rest);
    return (req, res) => (isNoiseRoute(req, maxBodyBytes) ? noise : rest)(req, res);
  };
  return { app, front };
}
