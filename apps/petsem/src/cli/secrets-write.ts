/**
 * What `secrets set`, `import`, `unset` and `rollback` share: one write through the running petsem,
 * then (unless --stage) the deploy record at the version that write made, like Fly's set-then-deploy.
 * Two calls, not one transaction: when the write succeeds and the deploy does not, the error says
 * the secrets were written and which command deploys them.
 */
import type { PetsemClient } from "@tkdb/client";
import { CliError, type CommandContext } from "@tkdb/service";
import { type Online, rpc, table } from "./online.js";

export interface WrittenSecret {
  readonly name: string;
  readonly version: number;
  /** null for an unset */
  readonly digest: string | null;
}

export interface WriteOutcome {
  /** the app version after the write */
  readonly app_version: number;
  /** true: written without deploying (--stage) */
  readonly staged: boolean;
  /** the deploy record after the command (null: staged, and never deployed) */
  readonly min_version: number | null;
  readonly secrets: readonly WrittenSecret[];
}

interface RawWrite {
  app_version: number;
  secrets?: unknown;
  name?: unknown;
  version?: unknown;
  digest?: unknown;
}

function written(r: RawWrite): WrittenSecret[] {
  const list = Array.isArray(r.secrets) ? r.secrets : [r];
  return list.map((s) => {
    const x = s as { name?: unknown; version?: unknown; digest?: unknown };
    return {
      name: String(x.name),
      version: Number(x.version),
      digest: typeof x.digest === "string" ? x.digest : null,
    };
  });
}

export async function writeThenDeploy(
  ctx: CommandContext,
  online: Online,
  token: string,
  op: string,
  write: (c: PetsemClient) => Promise<RawWrite>,
): Promise<WriteOutcome> {
  const { org, app, stage } = ctx.opts as { org: bigint; app: bigint; stage?: boolean };
  const r = await rpc(online, op, write);
  const base = { app_version: r.app_version, secrets: written(r) };
  const deployCmd = `petsem secrets deploy --org ${org} --app ${app}`;
  if (stage === true) {
    ctx.note(`staged at app version ${r.app_version}: \`${deployCmd}\` deploys it`);
    return { ...base, staged: true, min_version: null };
  }
  try {
    const d = await rpc(online, "deploy", (c) => c.deploy(token, org, app, r.app_version));
    ctx.note(`deployed: the next boot must reach app version ${d.min_version}`);
    return { ...base, staged: false, min_version: d.min_version };
  } catch (e) {
    // a later deploy recorded meanwhile already covers this write
    if (e instanceof CliError && e.code === "conflict") return { ...base, staged: false, min_version: null };
    const kind = e instanceof CliError ? e.kind : "refused";
    throw new CliError(
      kind,
      `written at app version ${r.app_version}, but not deployed: ${(e as Error).message}`,
      {
        ...(e instanceof CliError && e.where !== undefined ? { where: e.where } : {}),
        hint: `run \`${deployCmd}\` once the cause is fixed`,
      },
    );
  }
}

/** The readable form of a write: one row per secret on stdout (notes went to stderr). */
export function humanWrite(r: WriteOutcome): string {
  return table(
    ["NAME", "VERSION", "DIGEST"],
    r.secrets.map((s) => [s.name, String(s.version), s.digest ?? "(unset)"]),
  );
}
