import { UsageError } from "../errors.ts";
import { closestMatch } from "./closest_match.ts";
import type { Command, CommandContext, CommandEntry, DynamicFlag, FlagSpec } from "./command.ts";
import { ExitCode, exitCodeFor } from "./exit_codes.ts";
import { createOutput, type Output } from "./output.ts";
import { parseBooleanValue, parseFlags, UnknownFlagError } from "./parse_flags.ts";

/** Runs `ferry <anything>` that matches no command (the component runner, `ferry hello`). */
export type FallbackRunner = (
  name: string,
  args: string[],
  context: Omit<CommandContext, "args" | "options" | "flags" | "rawArgs" | "dynamicFlags">,
) => Promise<number>;

/** Options for {@linkcode runCli}. */
export interface RunCliOptions {
  /** The command table; a command's module is loaded only when that command is asked for. */
  commands: CommandEntry[];
  version: string;
  output?: Output;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  fallback?: FallbackRunner;
}

const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  help: { type: "boolean", short: "h", description: "Show help for ferry or for a command" },
  version: { type: "boolean", short: "V", description: "Print ferry's version" },
  debug: { type: "boolean", description: "Print stack traces with errors" },
  quiet: { type: "boolean", short: "q", description: "Print only results and errors" },
};

/**
 * Parses argv, runs the matching command and returns the process exit code. Errors are printed
 * here, once, as one line (with a stack trace under --debug); nothing below prints errors.
 */
export async function runCli(argv: string[], options: RunCliOptions): Promise<number> {
  let globals;
  try {
    globals = takeGlobalFlags(
      argv,
      new Set(options.commands.map((c) => c.name.split(" ")[0] ?? "")),
    );
  } catch (error) {
    reportError(options.output ?? createOutput(), error, false);
    return exitCodeFor(error);
  }
  const out = options.output ?? createOutput({ quiet: globals.quiet });
  const env = options.env ?? process.env;
  const signal = options.signal ?? new AbortController().signal;
  try {
    if (globals.version) {
      if (globals.rest.length > 0) {
        throw new UsageError(
          `"ferry --version" takes no arguments, got "${globals.rest.join(" ")}" ` +
            `(see "ferry --help")`,
        );
      }
      out.print(`ferry ${options.version}`);
      return ExitCode.ok;
    }
    const match = findCommand(globals.rest, options.commands);
    if (!match) {
      if (globals.rest.length === 0 || globals.help) {
        out.print(topHelp(options.commands, globals.rest[0]));
        return globals.help ? ExitCode.ok : ExitCode.usage;
      }
      return await runUnmatched(globals.rest, options, { out, env, signal, debug: globals.debug });
    }
    const { entry, rest } = match;
    const command: NamedCommand = {
      ...await entry.load(),
      name: entry.name,
      summary: entry.summary,
    };
    if (globals.help || rest.includes("--help") || rest.includes("-h")) {
      out.print(commandHelp(command));
      return ExitCode.ok;
    }
    const parsed = parseCommandArgs(command, rest);
    const code = await command.run({
      ...parsed,
      rawArgs: rest,
      out,
      env,
      signal,
      debug: globals.debug,
    });
    return code ?? ExitCode.ok;
  } catch (error) {
    reportError(out, error, globals.debug);
    return exitCodeFor(error);
  }
}

function takeGlobalFlags(argv: string[], commandWords: Set<string>) {
  // Global flags may stand anywhere among a command's own flags; we take them out here so a
  // command's parser never sees them. After a word that names no command (`ferry hello -q`),
  // everything belongs to the component being run and passes through untouched.
  const rest: string[] = [];
  const found = { debug: false, help: false, version: false, quiet: false };
  let passthrough = false;
  for (const arg of argv) {
    const global = passthrough ? undefined : globalFlag(arg, rest.length === 0);
    if (passthrough) rest.push(arg);
    else if (rest.length === 0 && !arg.startsWith("-") && !commandWords.has(arg)) {
      passthrough = true;
      rest.push(arg);
    } else if (arg === "--") {
      passthrough = true;
      rest.push(arg);
    } else if (global) found[global.name] = global.value;
    else rest.push(arg);
  }
  return { rest, ...found };
}

/** `--debug`, `-q`, `--quiet=false`…; --help and --version count only before the command. */
function globalFlag(
  arg: string,
  first: boolean,
): { name: "debug" | "help" | "version" | "quiet"; value: boolean } | undefined {
  const [flag = "", inline] = arg.split(/=(.*)/s);
  const name = flag.startsWith("--") ? flag.slice(2) : undefined;
  const short = Object.entries(GLOBAL_FLAGS).find(([, spec]) => `-${spec.short}` === flag)?.[0];
  const which = name ?? short;
  if (which !== "debug" && which !== "help" && which !== "version" && which !== "quiet") {
    return undefined;
  }
  if ((which === "help" || which === "version") && !first) return undefined;
  return { name: which, value: inline === undefined ? true : parseBooleanValue(flag, inline) };
}

/** A loaded command with its table row's name and summary, for help and messages. */
export type NamedCommand = Command & Pick<CommandEntry, "name" | "summary">;

function findCommand(words: string[], commands: CommandEntry[]) {
  let best: { entry: CommandEntry; rest: string[] } | undefined;
  for (const entry of commands) {
    const name = entry.name.split(" ");
    if (name.every((word, i) => words[i] === word)) {
      if (!best || name.length > best.entry.name.split(" ").length) {
        best = { entry, rest: words.slice(name.length) };
      }
    }
  }
  return best;
}

async function runUnmatched(
  words: string[],
  options: RunCliOptions,
  context: Omit<CommandContext, "args" | "options" | "flags" | "rawArgs" | "dynamicFlags">,
): Promise<number> {
  const [first = "", second] = words;
  const groups = new Set(
    options.commands.filter((c) => c.name.includes(" ")).map((c) => c.name.split(" ")[0]),
  );
  if (groups.has(first)) {
    const verbs = options.commands.filter((c) => c.name.startsWith(`${first} `));
    if (second === undefined || second === "--help" || second === "-h") {
      context.out.print(groupHelp(first, verbs));
      return second === undefined ? ExitCode.usage : ExitCode.ok;
    }
    const names = verbs.map((c) => c.name.split(" ")[1] ?? "");
    throw new UsageError(
      unknownMessage(`command "${first} ${second}"`, second, names, `ferry ${first} --help`),
    );
  }
  if (first.startsWith("-")) {
    throw new UsageError(
      unknownMessage(
        `flag "${first}"`,
        first,
        ["--help", "--version", "--debug", "--quiet"],
        "ferry --help",
      ),
    );
  }
  if (options.fallback) return await options.fallback(first, words.slice(1), context);
  const names = options.commands.map((c) => c.name.split(" ")[0] ?? "");
  throw new UsageError(unknownMessage(`command "${first}"`, first, names, "ferry --help"));
}

function unknownMessage(what: string, input: string, candidates: string[], help: string): string {
  const suggestion = closestMatch(input, new Set(candidates));
  const hint = suggestion ? `did you mean "${suggestion}"? ` : "";
  return `Unknown ${what}: ${hint}(see "${help}")`;
}

function parseCommandArgs(
  command: NamedCommand,
  args: string[],
): Pick<CommandContext, "args" | "options"> & { dynamicFlags: DynamicFlag[] } {
  let parsed;
  try {
    parsed = parseFlags(args, command.flags, { dynamic: command.dynamicFlags === true });
  } catch (error) {
    throw usageFromParseError(command, error);
  }
  const positionals = parsed.positionals;
  const { min = 0, max = Infinity } = command.positionals ?? { max: 0 };
  if (positionals.length < min) {
    throw new UsageError(
      `"ferry ${command.name}" needs ${
        command.positionals?.names ?? `${min} argument(s)`
      }: usage: ferry ${command.name} ${command.usage}`,
    );
  }
  if (positionals.length > max) {
    throw new UsageError(
      `"ferry ${command.name}" takes at most ${max} argument(s), got ${positionals.length}: usage: ferry ${command.name} ${command.usage}`,
    );
  }
  return {
    args: positionals,
    options: parsed.flags,
    dynamicFlags: parsed.dynamic,
  };
}

function usageFromParseError(command: NamedCommand, error: unknown): unknown {
  if (error instanceof UnknownFlagError) {
    const names = Object.keys(command.flags).map((n) => `--${n}`).concat("--help");
    return new UsageError(
      unknownMessage(
        `flag "${error.flag}" for "ferry ${command.name}"`,
        error.flag,
        names,
        `ferry ${command.name} --help`,
      ),
    );
  }
  if (!(error instanceof UsageError)) return error;
  return new UsageError(`${error.message} (see "ferry ${command.name} --help")`);
}

function reportError(out: Output, error: unknown, debug: boolean): void {
  if (debug && error instanceof Error && error.stack) {
    out.error(error.stack);
    let cause = error.cause;
    while (cause instanceof Error) {
      out.error(`caused by: ${cause.stack ?? cause.message}`);
      cause = cause.cause;
    }
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : "";
  out.error(cause && !message.includes(cause) ? `${message}: ${cause}` : message);
}

/** ` (default 8)`, ` (default "on")` as cobra prints them; nothing when the text says it already. */
function defaultNote(spec: FlagSpec): string {
  if (typeof spec.default !== "string" || spec.default === "") return "";
  if (spec.description.includes("(default")) return "";
  return /^\d+$/.test(spec.default) ? ` (default ${spec.default})` : ` (default "${spec.default}")`;
}

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : "    ";
    const value = spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : "";
    return [`  ${short}--${name}${value}`, `${spec.description}${defaultNote(spec)}`] as const;
  });
  const width = Math.max(0, ...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `${left.padEnd(width)}${right}`);
}

/** The text `ferry <command> --help` prints. */
export function commandHelp(command: NamedCommand): string {
  const lines = [command.summary, "", `Usage: ferry ${command.name} ${command.usage}`.trimEnd()];
  if (command.description) lines.push("", command.description.trimEnd());
  const flags = flagLines(command.flags);
  if (flags.length > 0) lines.push("", "Flags:", ...flags);
  lines.push("", "Global flags:", ...flagLines(GLOBAL_FLAGS));
  return lines.join("\n");
}

function groupHelp(group: string, verbs: CommandEntry[]): string {
  const width = Math.max(...verbs.map((c) => c.name.length)) + 2;
  return [
    `Usage: ferry ${group} <command> [flags]`,
    "",
    "Commands:",
    ...verbs.map((c) =>
      `  ${c.name.slice(group.length + 1).padEnd(width - group.length - 1)}${c.summary}`
    ),
    "",
    `Run "ferry ${group} <command> --help" for a command's flags.`,
  ].join("\n");
}

function topHelp(commands: CommandEntry[], unknown: string | undefined): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  const lines = [
    "ferry: private TiUP-compatible mirrors, a mirror server and a container-registry proxy",
    "",
    "Usage: ferry <command> [flags]",
    "       ferry <component>[:version] [args...]   run an installed component",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Global flags:",
    ...flagLines(GLOBAL_FLAGS),
    "",
    'Run "ferry <command> --help" for a command\'s flags.',
  ];
  if (unknown) lines.unshift(`Unknown command "${unknown}"`, "");
  return lines.join("\n");
}
