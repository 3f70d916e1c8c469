import { printable, UsageError } from "../errors.ts";
import type { Output } from "./output.ts";

/** One flag a command accepts. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  /** One line for --help. */
  description: string;
  /** Shown in --help as `--name VALUE`. */
  valueName?: string;
  /** May be given more than once; the values arrive as an array. */
  multiple?: boolean;
  default?: string | boolean;
}

/** Flag values after parsing: strings, booleans, or arrays for `multiple` flags. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** An undeclared flag a dynamic-flag command was given: `--tidb v1` (value undefined: none). */
export interface DynamicFlag {
  name: string;
  value: string | undefined;
}

/** What a command's `run` receives. */
export interface CommandContext {
  /** Positional arguments after the command name. */
  args: string[];
  flags: FlagValues;
  /** Everything after the command name, unparsed. */
  rawArgs: string[];
  /** The undeclared flags, in order, for commands with `dynamicFlags` (else empty). */
  dynamicFlags: DynamicFlag[];
  out: Output;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  debug: boolean;
}

/**
 * One row of the command table (commands/all_commands.ts): what the command list, group help and
 * "did you mean" need, and how to load the rest. Loading on demand keeps `ferry --version`,
 * `ferry --help` and `ferry mirror --help` from importing every command's dependencies.
 */
export interface CommandEntry {
  /** The words that select it: "serve", "mirror serve". */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Imports the command's module (a static `import("./x.ts")`, so the bundler keeps it). */
  load(): Promise<Command>;
}

/** A ferry command's flags, help and implementation: one per file under commands/. */
export interface Command {
  /** What follows the name in the usage line: "[DIR] [flags]". */
  usage: string;
  /** Longer help text (examples welcome), printed under the usage line. */
  description?: string;
  flags: Record<string, FlagSpec>;
  /** How many positional arguments it takes. */
  positionals?: { min?: number; max?: number; names?: string };
  /** Flags not in `flags` arrive in `dynamicFlags` (and rawArgs) instead of being refused. */
  dynamicFlags?: boolean;
  /** Returns the exit code (0 when omitted). Throws on failure. */
  run(context: CommandContext): Promise<number | void>;
}

/** Reads a string flag; `undefined` when absent. */
export function stringFlag(flags: FlagValues, name: string): string | undefined {
  const value = flags[name];
  if (Array.isArray(value)) return value[value.length - 1];
  return typeof value === "string" ? value : undefined;
}

/** Reads a boolean flag; false when absent. */
export function booleanFlag(flags: FlagValues, name: string): boolean {
  return flags[name] === true;
}

/** Reads a repeatable string flag; `[]` when absent. Comma-separated values are split. */
export function listFlag(flags: FlagValues, name: string): string[] {
  return splitList(repeatedFlag(flags, name));
}

/**
 * Reads a repeatable string flag's values as given, one per occurrence: for values that hold
 * commas of their own (`--registry NAME=URL,ca=FILE`).
 */
export function repeatedFlag(flags: FlagValues, name: string): string[] {
  const value = flags[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

/**
 * The values of a dynamic-flag command's undeclared flags (`--tidb v1,v2 --pd=latest` →
 * `{ tidb: ["v1", "v2"], pd: ["latest"] }`), comma-separated values split. A flag given without
 * a value gets the error `missing` makes for it.
 */
export function dynamicListFlags(
  dynamic: readonly DynamicFlag[],
  missing: (name: string) => Error,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { name, value } of dynamic) {
    if (value === undefined) throw missing(name);
    out[name] = [...(out[name] ?? []), ...splitList([value])];
  }
  return out;
}

function splitList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/** Bounds for {@linkcode integerFlag}. */
export interface IntegerFlagBounds {
  min: number;
  max: number;
  /** What the number counts, for the message ("days"). */
  unit?: string;
}

/**
 * Reads a whole-number flag within bounds; `undefined` when absent (the flag's default applies
 * first). Anything else (`0` where 1 is the least, `-3`, `1e3`, `99999999` days) is a
 * UsageError that says what to give.
 */
export function integerFlag(
  flags: FlagValues,
  name: string,
  bounds: IntegerFlagBounds,
): number | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= bounds.min && value <= bounds.max)) {
    throw new UsageError(
      `Cannot use --${name} "${printable(text)}": give a whole number${
        bounds.unit ? ` of ${bounds.unit}` : ""
      } from ${bounds.min} to ${bounds.max}`,
    );
  }
  return value;
}
