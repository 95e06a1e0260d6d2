/**
 * What the bench's coordinator and its load-generator worker processes say to each other over the
 * fork IPC channel (structured clone: typed arrays travel as they are). Every workload is described
 * by plain data; the worker builds its own clients and connections from it, so no object is shared
 * with the coordinator's process and every caller runs outside the servers' processes.
 */

/** A Noise service as the client pins it. */
export interface EndpointSpec {
  url: string;
  publicKeyHex: string;
}

/** The boot flow's data, as flow.ts's actors hold it (tokens as `FlyV1` header strings). */
export interface FlowSpec {
  tkdb: EndpointSpec;
  petsem: EndpointSpec;
  /** Users' headers (permission token + login discharge), one per user. */
  userHeaders: string[];
  /** petsem's reader token as a `FlyV1` header (it carries tkdb's third-party caveat). */
  reader: string;
  org: string;
  app: string;
  /** The app version the writer produced: resolve asks for at least this one. */
  minVersion: number;
  /** The values written (dummy bench secrets): every resolve answer is checked against them. */
  values: Record<string, string>;
}

export type WorkloadSpec =
  /** A JSON POST of {n} answered with {ok, echo: n} (the node:http and Hono floors). */
  | { kind: "echo"; url: string }
  /** RFC 7662 introspection of one opaque token with client_secret_basic (the peer). */
  | { kind: "introspect"; url: string; clientId: string; clientSecret: string; token: string }
  /** tkdb verify of a user's token, online every time. */
  | { kind: "verify"; flow: FlowSpec }
  /** tkdb discharge of petsem's reader ticket for a user's token (an audited write). */
  | { kind: "discharge"; flow: FlowSpec }
  /** petsem resolve of the app's secrets with the reader token and a discharge got at setup. */
  | { kind: "resolve"; flow: FlowSpec }
  /** The boot path: a fresh tkdb discharge, then petsem resolve with it. */
  | { kind: "boot"; flow: FlowSpec };

/**
 * How the Noise clients reach HTTP: "pool" the generator's undici pool; "global" the client's own
 * default transport (node:http with keep-alive on Node); for comparing client costs (probe-client.ts):
 * "fetch" Node's global fetch, "pool-web" the pool behind a WHATWG Response per call.
 */
export type FetchImpl = "pool" | "global" | "fetch" | "pool-web";

export interface PrepareMsg {
  type: "prepare";
  spec: WorkloadSpec;
  /** Callers in flight in this worker. */
  callers: number;
  /** This worker's share of the run's operation count. */
  count: number;
  maxMs: number;
  warmupOps: number;
  warmupMs: number;
  fetchImpl: FetchImpl;
  /** First operation index of this worker (so workers spread over users). */
  indexBase: number;
}

export interface GoMsg {
  type: "go";
}

export type ToWorker = PrepareMsg | GoMsg;

export interface ReadyMsg {
  type: "ready";
  warmupOps: number;
  warmupErrors: number;
  errorSamples: string[];
}

export interface ResultMsg {
  type: "result";
  /** Latencies in ms of the operations that succeeded, in completion order. */
  latencies: Float64Array;
  errors: number;
  errorSamples: string[];
  elapsedMs: number;
  /** CPU the worker used during the measured part, in µs (user + system). */
  cpuUs: number;
}

export interface FailedMsg {
  type: "failed";
  message: string;
}

export type FromWorker = ReadyMsg | ResultMsg | FailedMsg;

/** An error as the bench records it: its class and message (codes), never token or secret bytes. */
export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 200) : String(e).slice(0, 200);
}
