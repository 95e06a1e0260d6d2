/**
 * `petsem secrets history NAME --org N --app N`: the versions of one secret petsem still keeps
 * (newest first), with the app version and time each was written and whether it was an unset;
 * never a value. Pick a version for `secrets rollback NAME --to N`.
 */
import { type CommandDef, command } from "@tkdb/service";
import { connect, ORG_APP_OPTIONS, rpc, TOKEN_STDIN_OPTION, table, writerToken } from "./online.js";

export interface HistoryOutcome {
  readonly name: string;
  readonly current_version: number;
  readonly live: boolean;
  readonly versions: {
    version: number;
    app_version: number;
    created_at: string;
    deleted: boolean;
    digest: string | null;
  }[];
}

export const secretsHistory: CommandDef<HistoryOutcome> = command({
  name: "history",
  description: "list the kept versions of one secret with their times (never values)",
  args: [{ name: "name", description: "the secret's name" }],
  options: [...ORG_APP_OPTIONS, TOKEN_STDIN_OPTION],
  examples: ["petsem secrets history DATABASE_URL --org 7 --app 42"],
  run: async (ctx) => {
    const online = connect(ctx);
    const token = await writerToken(ctx, online);
    const { org, app } = ctx.opts as { org: bigint; app: bigint };
    const name = ctx.args.name as string;
    const r = await rpc(online, "history", (c) => c.history(token, org, app, name), {
      not_found: "no secret by that name was ever set in this app (`petsem secrets list`)",
    });
    return {
      name: r.name,
      current_version: r.current_version,
      live: r.live,
      versions: r.versions.map((v) => ({
        version: v.version,
        app_version: v.app_version,
        created_at: v.created_at,
        deleted: v.deleted,
        digest: v.digest,
      })),
    };
  },
  human: (r) =>
    table(
      ["VERSION", "APP_VERSION", "CREATED", "KIND", "DIGEST"],
      r.versions.map((v) => [
        `${v.version}${v.version === r.current_version ? " (current)" : ""}`,
        String(v.app_version),
        v.created_at,
        v.deleted ? "unset" : "set",
        v.digest ?? "-",
      ]),
    ),
});
