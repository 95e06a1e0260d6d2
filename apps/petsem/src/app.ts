/**
 * The Hono app: one route, `POST /noise/v1/secrets/:op`, handled by @tkdb/noise's IK responder.
 * No admin endpoints, no other routes. Errors that escape (none should: the Noise handler turns op
 * errors into encrypted responses) become a bare 500 in one place.
 */
import { createNoiseHandler, type KeyPair, type NoiseServerEvent } from "@tkdb/noise";
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

export function createPetsemApp(opts: PetsemAppOptions): Hono {
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
  app.post("/noise/v1/secrets/:op", (c) => {
    const serve = () =>
      handler(c.req.raw, {
        // the socket's address (never a client header): the unit of the per-source budgets
        remoteAddress: (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
          ?.socket?.remoteAddress,
      });
    return telemetry === undefined ? serve() : telemetry.inRequest(serve);
  });
  app.notFound(() => new Response(null, { status: 404 }));
  app.onError(() => new Response(null, { status: 500 }));
  return app;
}
