/**
 * The CLI runner both apps build their CLIs on (commander 14). A CLI is data (`defineCli`); each
 * run builds a fresh commander tree, so `runCli(cli, {argv, env, stdin, stdout, stderr, cwd})`
 * can be called any number of times in one process: tests drive every command in-process, with
 * no subprocess. The runner never calls process.exit; it resolves to the exit code (0 ok,
 * 1 refused, 2 usage, 3 unreachable; see cli-output.ts) and the bin shim sets process.exitCode.
 *
 * What every CLI gets: `--help` at every level with an "Environment" section (variables, formats,
 * defaults) and examples; `--version`; suggestions for mistyped commands and options; `--json`
 * (the command returns a value; the runner prints it readable, or as JSON); `--org=5` and
 * `--org 5`; the development env file (config-envfile.ts) when run inside the repository and
 * NODE_ENV is not production, with a note on stderr naming the file.
 */
import { Command, CommanderError, Option } from "commander";
import {
  CliError,
  EXIT_CODES,
  formatErrorHuman,
  formatHuman,
  reportError,
  toJsonText,
} from "./cli-output.js";
import { type ConfigOf, type ConfigSpec, type Env, parseConfig } from "./config.js";
import { loadDevEnv } from "./config-envfile.js";
import { formatEnvHelp } from "./config-help.js";
import { KindError } from "./config-kinds.js";

/** A stream the runner writes to (process.stdout, or a test buffer). */
export interface CliWritable {
  write(chunk: string): unknown;
  readonly columns?: number;
}

export interface CliIo {
  /** The user's arguments: process.argv.slice(2). */
  readonly argv: readonly string[];
  readonly env: Env;
  readonly stdout: CliWritable;
  readonly stderr: CliWritable;
  readonly stdin?: AsyncIterable<Uint8Array | string>;
  readonly cwd: string;
  /** Aborted on SIGTERM/SIGINT by the bin shim: long-running commands (serve) stop on it. */
  readonly signal?: AbortSignal;
}

export interface ArgDef {
  readonly name: string;
  readonly description: string;
  readonly required?: boolean;
  readonly variadic?: boolean;
}

export interface OptionDef {
  /** commander flags: "--org <id>", "-o, --output <path>", "--writer". */
  readonly flags: string;
  readonly description: string;
  readonly default?: string | boolean;
  /** The option must be given. */
  readonly required?: boolean;
  /** Allowed values (checked without echoing the given value). */
  readonly choices?: readonly string[];
  /** Parses the text; throw KindError("must be …") for a bad value (it is never echoed). */
  readonly parse?: (text: string) => unknown;
}

export interface CommandContext {
  /** "token mint" */
  readonly command: string;
  readonly args: Readonly<Record<string, string | string[] | undefined>>;
  /** Options by camel-case name (`--dry-run` → dryRun). */
  readonly opts: Readonly<Record<string, unknown>>;
  readonly json: boolean;
  /** The environment, with the development env file's variables under it. */
  readonly env: Env;
  /** The development env file this run loaded (its path), or null when none was. */
  readonly devEnvFile: string | null;
  readonly stdout: CliWritable;
  readonly stderr: CliWritable;
  readonly cwd: string;
  readonly signal: AbortSignal;
  /** Parses variables (warnings go to stderr; problems throw ConfigError: exit 2). */
  config<S extends ConfigSpec>(spec: S): ConfigOf<S>;
  /** All of stdin as text, at most `maxBytes` (default 1 MiB). */
  readStdin(maxBytes?: number): Promise<string>;
  /** A line on stderr for people (progress, notes); silent with --json. */
  note(message: string): void;
}

export interface CommandDef<R = unknown> {
  /** One word. */
  readonly name: string;
  readonly description: string;
  /** Old names, still accepted (a renamed command keeps its old name). */
  readonly aliases?: readonly string[];
  readonly args?: readonly ArgDef[];
  readonly options?: readonly OptionDef[];
  /** Variables this command reads, for its --help (the CLI-wide ones are listed at the top). */
  readonly env?: ConfigSpec;
  /** At least one for a command that runs: `tkdb token mint --org 5`. */
  readonly examples?: readonly string[];
  /** Subcommands: a group (`token` → mint, revoke) has these and no run. */
  readonly commands?: readonly AnyCommand[];
  readonly run?: (ctx: CommandContext) => R | Promise<R>;
  /** The readable form of the result (default: cli-output formatHuman). */
  readonly human?: (result: R) => string;
}

export interface CliDef {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  /** Variables every command may read, listed in the top-level help. */
  readonly env?: ConfigSpec;
  /** Unknown variables with these prefixes are warned about ("did you mean"). */
  readonly envPrefixes?: readonly string[];
  readonly examples?: readonly string[];
  readonly commands: readonly AnyCommand[];
  /** The development env file (relative to the repository root), or false for none. */
  readonly devEnv?: { readonly file?: string; readonly rootMarker?: string } | false;
}

// biome-ignore lint/suspicious/noExplicitAny: commands return values of any type
type AnyCommand = CommandDef<any>;

/** Types one command's `run` and `human` together (optional: a plain object literal works too). */
export function command<R>(def: CommandDef<R>): CommandDef<R> {
  return def;
}

/** Checks a CLI definition once: names, and an example for every command that runs. */
export function defineCli<const D extends CliDef>(def: D): D {
  const walk = (cmds: readonly AnyCommand[], path: string) => {
    const seen = new Set<string>();
    for (const c of cmds) {
      const here = `${path} ${c.name}`.trim();
      for (const n of [c.name, ...(c.aliases ?? [])]) {
        if (!/^[a-z][a-z0-9-]*$/.test(n))
          throw new TypeError(`${here}: command name ${n} must be lower-case`);
        if (seen.has(n)) throw new TypeError(`${here}: name ${n} used twice`);
        seen.add(n);
      }
      if ((c.run === undefined) === (c.commands === undefined || c.commands.length === 0))
        throw new TypeError(`${here}: a command has either run or subcommands`);
      if (c.run !== undefined && (c.examples ?? []).length === 0)
        throw new TypeError(`${here}: give at least one example`);
      if (c.commands) walk(c.commands, here);
    }
  };
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new TypeError("CLI name must be lower-case");
  walk(def.commands, def.name);
  return def;
}

const EXIT_HELP = [
  "Exit codes:",
  "  0  ok",
  "  1  refused (the service or a local check said no)",
  "  2  usage (wrong command, flag, argument or environment variable)",
  "  3  service unreachable or unavailable (retry later)",
].join("\n");

function section(title: string, body: string | undefined): string {
  return body === undefined || body === "" ? "" : `\n${title}:\n${body}\n`;
}

interface RunState {
  result: unknown;
  ran: AnyCommand | undefined;
  /** The environment with the development env file under it. */
  readonly env: Env;
  /** The development env file loaded, or null. */
  readonly devEnvFile: string | null;
}

function addOption(cmd: Command, o: OptionDef): void {
  const opt = new Option(o.flags, o.description);
  if (o.default !== undefined) opt.default(o.default);
  if (o.required) opt.makeOptionMandatory(true);
  const name = opt.long ?? o.flags;
  const parse = o.parse;
  const choices = o.choices;
  if (choices !== undefined || parse !== undefined)
    opt.argParser((text: string) => {
      if (choices !== undefined && !choices.includes(text))
        throw CliError.usage(`${name} must be one of ${choices.join(", ")}`, { where: name });
      if (parse === undefined) return text;
      try {
        return parse(text);
      } catch (e) {
        if (e instanceof KindError) throw CliError.usage(`${name} ${e.message}`, { where: name });
        throw e;
      }
    });
  cmd.addOption(opt);
}

/** Builds one command (and its subcommands) under `parent`. */
function build(
  parent: Command,
  def: AnyCommand,
  cli: CliDef,
  io: CliIo,
  state: RunState,
  path: string,
): void {
  const cmd = parent.command(def.name).description(def.description);
  for (const a of def.aliases ?? []) cmd.alias(a);
  for (const a of def.args ?? [])
    cmd.argument(
      a.required === false
        ? `[${a.name}${a.variadic ? "..." : ""}]`
        : `<${a.name}${a.variadic ? "..." : ""}>`,
      a.description,
    );
  for (const o of def.options ?? []) addOption(cmd, o);
  const here = `${path} ${def.name}`;
  cmd.addHelpText(
    "after",
    () =>
      section("Environment", def.env ? formatEnvHelp(def.env) : undefined) +
      (cli.env && def.env ? `  (and the variables in \`${cli.name} --help\`)\n` : "") +
      section("Examples", (def.examples ?? []).map((e) => `  ${e}`).join("\n")),
  );
  for (const sub of def.commands ?? []) build(cmd, sub, cli, io, state, here);
  const run = def.run;
  if (run === undefined) return;
  cmd.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Command;
    const args: Record<string, string | string[] | undefined> = {};
    (def.args ?? []).forEach((a, i) => {
      args[a.name] = self.processedArgs[i] as string | string[] | undefined;
    });
    state.ran = def;
    state.result = await run(context(here.trim(), args, self, io, cli, state));
  });
}

function context(
  command: string,
  args: CommandContext["args"],
  self: Command,
  io: CliIo,
  cli: CliDef,
  state: RunState,
): CommandContext {
  const env = state.env;
  const json = self.optsWithGlobals().json === true;
  const opts = { ...self.opts() };
  return {
    command,
    args,
    opts,
    json,
    env,
    devEnvFile: state.devEnvFile,
    stdout: io.stdout,
    stderr: io.stderr,
    cwd: io.cwd,
    signal: io.signal ?? new AbortController().signal,
    config(spec) {
      const { values, warnings } = parseConfig(spec, env, {
        prefixes: cli.envPrefixes ?? [],
        alsoKnown: allSpecs(cli),
      });
      for (const w of warnings) io.stderr.write(`${cli.name}: warning: ${w}\n`);
      return values;
    },
    async readStdin(maxBytes = 1 << 20) {
      if (io.stdin === undefined) throw CliError.usage("this command reads stdin, and none was given");
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of io.stdin) {
        const b = typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.from(c);
        n += b.length;
        if (n > maxBytes) throw CliError.usage(`stdin is larger than ${maxBytes} bytes`, { where: "stdin" });
        chunks.push(b);
      }
      return Buffer.concat(chunks).toString("utf8");
    },
    note(message) {
      if (!json) io.stderr.write(`${cli.name}: ${message}\n`);
    },
  };
}

/** The CLI-wide spec and every command's: together, the variables this program reads. */
function allSpecs(cli: CliDef): ConfigSpec[] {
  const out: ConfigSpec[] = cli.env ? [cli.env] : [];
  const walk = (cmds: readonly AnyCommand[]) => {
    for (const c of cmds) {
      if (c.env) out.push(c.env);
      walk(c.commands ?? []);
    }
  };
  walk(cli.commands);
  return out;
}

/** The root commander program for one run, wired to the given streams. */
function program(cli: CliDef, io: CliIo, state: RunState): Command {
  const root = new Command(cli.name)
    .description(cli.description)
    .version(cli.version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help for this command")
    .option("--json", "machine-readable output: JSON on stdout, errors as JSON on stderr")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      getOutHelpWidth: () => io.stdout.columns ?? 100,
      getErrHelpWidth: () => io.stderr.columns ?? 100,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .showSuggestionAfterError(true)
    .showHelpAfterError(`(run ${cli.name} --help for usage)`);
  root.addHelpText(
    "after",
    section("Environment", cli.env ? formatEnvHelp(cli.env) : undefined) +
      section("Examples", (cli.examples ?? []).map((e) => `  ${e}`).join("\n")) +
      `\n${EXIT_HELP}\n`,
  );
  for (const c of cli.commands) build(root, c, cli, io, state, cli.name);
  return root;
}

/**
 * Runs one command line. Resolves to the exit code; never throws for anything the command or
 * the user did, and never calls process.exit.
 */
export async function runCli(cli: CliDef, io: CliIo): Promise<number> {
  // `help token mint` is `token mint --help` (commander's own help command sees one level only)
  const argv =
    io.argv[0] === "help" && io.argv.length > 1 && !io.argv.includes("--")
      ? [...io.argv.slice(1), "--help"]
      : [...io.argv];
  const dash = argv.indexOf("--");
  const json = (dash < 0 ? argv : argv.slice(0, dash)).includes("--json");
  const fail = (err: unknown): number => {
    const r = reportError(err);
    if (json) io.stderr.write(`${toJsonText({ error: r })}\n`);
    else io.stderr.write(formatErrorHuman(cli.name, r));
    return r.exit;
  };
  try {
    let env = io.env;
    let devEnvFile: string | null = null;
    if (cli.devEnv !== false) {
      const dev = loadDevEnv({ env: io.env, cwd: io.cwd, ...(cli.devEnv ?? {}) });
      env = dev.env;
      devEnvFile = dev.file;
      if (dev.file !== null && !json)
        io.stderr.write(
          `${cli.name}: using development settings from ${dev.file} (environment variables win)\n`,
        );
    }
    const state: RunState = { result: undefined, ran: undefined, env, devEnvFile };
    await program(cli, io, state).parseAsync(argv, { from: "user" });
    if (state.ran !== undefined && state.result !== undefined) {
      io.stdout.write(
        json ? `${toJsonText(state.result)}\n` : (state.ran.human ?? formatHuman)(state.result as never),
      );
    }
    return EXIT_CODES.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already written its message (with suggestions) to stderr.
      // Help asked for (--help, `help <command>`) and --version end with exit code 0; help shown
      // because something was missing (a group without its subcommand) and every parse error: 2.
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT_CODES.ok;
      if (err.code === "commander.help" && err.exitCode === 0) return EXIT_CODES.ok;
      return EXIT_CODES.usage;
    }
    return fail(err);
  }
}
