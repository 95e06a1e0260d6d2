/**
 * `petsem secrets deploy --org N --app N [--min-version V]`: records the app version the next
 * boot must reach (the app's deploy record, Fly's min_secrets_version; default: the current
 * version), which makes staged secrets Deployed in `secrets list`. Idempotent: a retry of the same
 * call is answered from petsem's replay record; deploying the recorded version again changes nothing.
 */
import { type CommandDef, command } from "@tkdb/service";
import { connect, ORG_APP_OPTIONS, rpc, TOKEN_STDIN_OPTION, writerToken } from "./online.js";
import { versionParser } from "./secrets-rollback.js";

export interface DeployOutcome {
  readonly min_version: number;
  readonly app_version: number;
  readonly deployed_at: string;
  readonly changed: boolean;
  /** the epoch of min_version: flyd passes both to `petsem boot --min-version V --min-epoch E` */
  readonly epoch?: string;
}

export const secretsDeploy: CommandDef<DeployOutcome> = command({
  name: "deploy",
  description: "record the app version the next boot must reach (deploys staged secrets)",
  options: [
    ...ORG_APP_OPTIONS,
    {
      flags: "--min-version <version>",
      description: "the app version to record (default: the current one)",
      parse: versionParser,
    },
    TOKEN_STDIN_OPTION,
  ],
  examples: ["petsem secrets deploy --org 7 --app 42"],
  run: async (ctx) => {
    const online = connect(ctx);
    const token = await writerToken(ctx, online);
    const { org, app, minVersion } = ctx.opts as { org: bigint; app: bigint; minVersion?: number };
    const r = await rpc(online, "deploy", (c) => c.deploy(token, org, app, minVersion), {
      invalid_request: "--min-version cannot be past the app's current version (`petsem secrets list`)",
    });
    ctx.note(
      `the next boot must reach app version ${r.min_version}${typeof r.epoch === "string" ? ` in epoch ${r.epoch} (boot --min-version ${r.min_version} --min-epoch ${r.epoch})` : ""}`,
    );
    return {
      ...(typeof r.epoch === "string" ? { epoch: r.epoch } : {}),
      min_version: r.min_version,
      app_version: r.app_version,
      deployed_at: r.deployed_at,
      changed: Boolean(r.changed),
    };
  },
});
