/**
 * What the online commands (`secrets …`, `boot`) share: the client for the RUNNING petsem
 * (PETSEM_URL, pinned PETSEM_PUBLIC_KEY; HTTP/Noise sessions), the tokens they present (from
 * PETSEM_WRITER_TOKEN / PETSEM_READER_TOKEN or their _FILE forms, or stdin), and one translation of
 * every failure into what failed, where (URL and op, or variable) and what to do next. Nothing here
 * ever prints a token or a value.
 */
import { PetsemClient } from "@tkdb/client";
import { CliError, type CommandContext, exitCodeFor, type OptionDef } from "@tkdb/service";
import { petsemClientEnv } from "../env.js";
import { uint64Parser } from "./common.js";

export const ORG_APP_OPTIONS: readonly OptionDef[] = [
  { flags: "--org <id>", description: "the organization id", required: true, parse: uint64Parser },
  { flags: "--app <id>", description: "the app id", required: true, parse: uint64Parser },
];

export const TOKEN_STDIN_OPTION: OptionDef = {
  flags: "--token-stdin",
  description: "read the writer token from stdin (instead of PETSEM_WRITER_TOKEN or its _FILE)",
};

export const STAGE_OPTION: OptionDef = {
  flags: "--stage",
  description: "write without deploying: the next boot need not reach this version (see `secrets deploy`)",
};

export interface Online {
  readonly client: PetsemClient;
  readonly url: string;
  readonly config: ReturnType<typeof connectConfig>;
}

function connectConfig(ctx: CommandContext) {
  return ctx.config(petsemClientEnv);
}

/** The client for the running petsem; PETSEM_PUBLIC_KEY is required (the server's key is pinned). */
export function connect(ctx: CommandContext): Online {
  const config = connectConfig(ctx);
  if (config.publicKey === undefined)
    throw CliError.usage("PETSEM_PUBLIC_KEY is not set: online commands pin the running petsem's Noise key", {
      where: "PETSEM_PUBLIC_KEY",
      hint: "set it to the noise_public_key that `petsem serve` (or npm start) printed; data/dev.env sets it in development",
    });
  const client = new PetsemClient({
    endpoints: [{ url: config.url, serverPublicKey: config.publicKey }],
    retry: { attempts: 2 },
    timeoutMs: 10_000,
  });
  return { client, url: config.url, config };
}

/** `FlyV1 a,b,…` from tokens given bare, as headers, or comma lists (never echoed). */
export function header(...parts: string[]): string {
  const tokens = parts
    .flatMap((p) =>
      p
        .trim()
        .replace(/^FlyV1\s+/i, "")
        .split(","),
    )
    .map((t) => t.trim())
    .filter((t) => t !== "");
  return `FlyV1 ${tokens.join(",")}`;
}

/** The writer token: --token-stdin, else PETSEM_WRITER_TOKEN(_FILE). */
export async function writerToken(ctx: CommandContext, online: Online): Promise<string> {
  if (ctx.opts.tokenStdin === true) {
    const text = (await ctx.readStdin(64 * 1024)).trim();
    if (text === "") throw CliError.usage("--token-stdin: stdin is empty", { where: "stdin" });
    return header(text);
  }
  const t = online.config.writerToken;
  if (t === undefined)
    throw CliError.usage("no writer token: set PETSEM_WRITER_TOKEN_FILE (or PETSEM_WRITER_TOKEN)", {
      where: "PETSEM_WRITER_TOKEN",
      hint: "mint one where petsem's database is: `petsem token mint --writer > writer.token`, then PETSEM_WRITER_TOKEN_FILE=writer.token (or pipe it with --token-stdin)",
    });
  return header(t);
}

const HINTS: Readonly<Record<string, string>> = {
  unauthorized:
    "the token is not a valid token of THIS petsem (minted with its database by `petsem token mint`), or was revoked",
  revoked: "this token was revoked: mint a new one (`petsem token mint`)",
  forbidden: "the token does not allow this operation on this org and app: mint one that does",
  not_found: "check the name and version (`petsem secrets list`, `petsem secrets history NAME`)",
  stale: "this petsem is behind the version asked for: retry, or check --min-version",
  cas_mismatch: "someone else changed it first: list again and retry",
  conflict: "the app is already deployed at a later version (`petsem secrets list` shows it)",
  too_large: "a value is over petsem's size limit (32 KiB)",
  too_many: "over petsem's limit of entries (500 per batch, 256 live secrets per app)",
  invalid_name: "names are letters, digits and _, not starting with a digit",
  reserved_name: "names starting with FLY_ are reserved",
};

function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c = e, i = 0; c !== null && c !== undefined && i < 8; i++) {
    out.push(c);
    if (c instanceof AggregateError) out.push(...c.errors.flatMap(causes));
    c = (c as { cause?: unknown }).cause;
  }
  return out;
}

function fieldOf(e: unknown, k: "code" | "status" | "name"): unknown {
  return e !== null && typeof e === "object" ? (e as Record<string, unknown>)[k] : undefined;
}

/** A failure of `op` at `url`, said as what failed, where and what next; exit code kept. */
export function explain(
  e: unknown,
  url: string,
  op: string,
  hints: Readonly<Record<string, string>> = {},
): Error {
  if (e instanceof CliError) return e;
  const chain = causes(e);
  const remote = chain.find((c) => fieldOf(c, "name") === "NoiseRemoteError");
  if (remote !== undefined) {
    const code = String(fieldOf(remote, "code"));
    const message = (remote as Error).message;
    const hint = hints[code] ?? HINTS[code];
    const kind = exitCodeFor(remote) === 3 ? "unreachable" : "refused";
    return new CliError(kind, `petsem refused ${op}: ${message}`, {
      code,
      where: `${url} (${op})`,
      ...(hint === undefined ? {} : { hint }),
    });
  }
  if (chain.some((c) => fieldOf(c, "code") === "ECONNREFUSED"))
    return CliError.unreachable(`nothing answers at ${url}`, {
      where: `PETSEM_URL=${url}`,
      hint: "start petsem (npm start, or `petsem serve`), or set PETSEM_URL to where it runs",
      cause: e,
    });
  if (chain.some((c) => fieldOf(c, "code") === "http_status" && fieldOf(c, "status") === 400))
    return CliError.refused(`the server at ${url} refused the Noise handshake`, {
      where: "PETSEM_PUBLIC_KEY",
      hint: "PETSEM_PUBLIC_KEY must be the noise_public_key of the petsem at PETSEM_URL (`petsem serve` prints it)",
    });
  if (exitCodeFor(e) === 3 || chain.some((c) => fieldOf(c, "name") === "NoiseTransportError"))
    return CliError.unreachable(`petsem at ${url} could not be reached for ${op}`, {
      where: `PETSEM_URL=${url}`,
      hint: "check that petsem runs there and that PETSEM_URL and PETSEM_PUBLIC_KEY name it; retry",
      cause: e,
    });
  return e instanceof Error ? e : new Error(String(e));
}

/** Runs one call to the running petsem, failures explained (see `explain`). */
export async function rpc<T>(
  online: Online,
  op: string,
  call: (c: PetsemClient) => Promise<T>,
  hints?: Readonly<Record<string, string>>,
): Promise<T> {
  try {
    return await call(online.client);
  } catch (e) {
    throw explain(e, online.url, op, hints);
  }
}

/** Left-aligned columns, one row per line, header first. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return `${all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n")}\n`;
}
