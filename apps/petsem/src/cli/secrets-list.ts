/**
 * `petsem secrets list --org N --app N`: name, digest, version, updated time and Deployed/Staged
 * status of each live secret; never a value. A secret is Deployed when the app version of its
 * current version is at most the app's deploy record (`secrets deploy`), Staged otherwise (or when
 * the app was never deployed). The digest is a random fingerprint of the version, not of the value:
 * it cannot be compared with anything computed locally.
 */
import { type CommandDef, command } from "@tkdb/service";
import { connect, ORG_APP_OPTIONS, rpc, TOKEN_STDIN_OPTION, table, writerToken } from "./online.js";

export interface ListedSecret {
  readonly name: string;
  readonly digest: string;
  readonly version: number;
  readonly updated_at: string;
  readonly status: "Deployed" | "Staged";
}

export interface ListOutcome {
  readonly app_version: number;
  /** the deploy record: the app version the next boot must reach (null: never deployed) */
  readonly deployed: { readonly min_version: number; readonly deployed_at: string } | null;
  secrets: ListedSecret[];
}

export const secretsList: CommandDef<ListOutcome> = command({
  name: "list",
  description: "list secrets: name, digest, version, updated time, Deployed or Staged (never values)",
  options: [...ORG_APP_OPTIONS, TOKEN_STDIN_OPTION],
  examples: ["petsem secrets list --org 7 --app 42", "petsem secrets list --org 7 --app 42 --json"],
  run: async (ctx) => {
    const online = connect(ctx);
    const token = await writerToken(ctx, online);
    const { org, app } = ctx.opts as { org: bigint; app: bigint };
    const r = await rpc(online, "list", (c) => c.list(token, org, app));
    const d = r.deployed ?? null;
    const deployed = d === null ? null : { min_version: d.min_version, deployed_at: d.deployed_at };
    ctx.note(
      deployed === null
        ? `app version ${r.app_version}; never deployed (\`petsem secrets deploy\`)`
        : `app version ${r.app_version}; deployed at ${deployed.min_version} (${deployed.deployed_at})`,
    );
    return {
      app_version: r.app_version,
      deployed,
      secrets: r.secrets.map((s) => ({
        name: s.name,
        digest: s.digest,
        version: s.version,
        updated_at: String(s.updated_at),
        status:
          deployed !== null && typeof s.app_version === "number" && s.app_version <= deployed.min_version
            ? "Deployed"
            : "Staged",
      })),
    };
  },
  human: (r) =>
    table(
      ["NAME", "DIGEST", "VERSION", "UPDATED", "STATUS"],
      r.secrets.map((s) => [s.name, s.digest, String(s.version), s.updated_at, s.status]),
    ),
});
