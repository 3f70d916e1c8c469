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
  /**
   * A boolean flag that was not given reads `undefined` rather than false, so that `--x=false`
   * (set it off) differs from leaving it out (leave it as it is).
   */
  tristate?: boolean;
}

/**
 * Flag values after parsing, looked up by name: strings, booleans, or arrays for `multiple`
 * flags; absent flags without a default are missing.
 */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** An undeclared flag a dynamic-flag command was given: `--tidb v1` (value undefined: none). */
export interface DynamicFlag {
  name: string;
  value: string | undefined;
}

/** A command's flags by name. Declare them `as const satisfies FlagSpecs` to keep their types. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/**
 * The parsed value of one flag, from its spec: a boolean flag is `boolean` (false when absent;
 * `boolean | undefined` when `tristate`), a `multiple` one `string[]` (empty when absent), a
 * string flag with a default `string`, any other string flag `string | undefined`.
 */
export type FlagValueOf<S extends FlagSpec> = S extends { type: "boolean"; tristate: true }
  ? boolean | undefined
  : S extends { type: "boolean" } ? boolean
  : S extends { multiple: true } ? string[]
  : S extends { default: string } ? string
  : string | undefined;

/**
 * Every declared flag's value, typed from the specs: for
 * `{ mirror: { type: "string", … }, json: { type: "boolean", … } }` it is
 * `{ mirror: string | undefined; json: boolean }`, so a misspelt flag name is a type error.
 * Specs whose names the compiler does not know (`Record<string, FlagSpec>`) give
 * {@linkcode FlagValues}.
 */
export type TypedFlags<F extends FlagSpecs> = string extends keyof F ? FlagValues
  : { readonly [K in keyof F]: FlagValueOf<F[K]> };

/** What a command's `run` receives. */
export interface CommandContext<F extends FlagSpecs = FlagSpecs> {
  /** Positional arguments after the command name. */
  args: string[];
  /** Every declared flag, typed from the command's specs (see {@linkcode TypedFlags}). */
  options: TypedFlags<F>;
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

/**
 * A ferry command's flags, help and implementation: one per file under commands/. Made with
 * {@linkcode defineCommand}, `run` receives `options` typed from `flags`.
 */
export interface Command<F extends FlagSpecs = FlagSpecs> {
  /** What follows the name in the usage line: "[DIR] [flags]". */
  usage: string;
  /** Longer help text (examples welcome), printed under the usage line. */
  description?: string;
  flags: F;
  /** How many positional arguments it takes. */
  positionals?: { min?: number; max?: number; names?: string };
  /** Flags not in `flags` arrive in `dynamicFlags` (and rawArgs) instead of being refused. */
  dynamicFlags?: boolean;
  /** Returns the exit code (0 when omitted). Throws on failure. */
  run(context: CommandContext<F>): Promise<number | void>;
}

/**
 * Declares a command so that its `run` gets `options` typed from its flag specs.
 *
 * @example
 * ```ts
 * export const listCommand = defineCommand({
 *   usage: "[flags]",
 *   flags: { json: { type: "boolean", description: "Print JSON" } },
 *   async run({ options, out }) {
 *     if (options.json) out.json([]); // options.jsn would not compile
 *   },
 * });
 * ```
 */
export function defineCommand<const F extends FlagSpecs>(command: Command<F>): Command {
  // The command table holds commands of every flag set; runCli only ever calls `run` with the
  // options it parsed from this command's own `flags`, so erasing F here is sound.
  return command as unknown as Command;
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

/**
 * The values of a repeatable or list flag, comma-separated values split, blanks dropped.
 *
 * @example
 * ```ts
 * splitList(["a,b", " c "]); // ["a", "b", "c"]
 * splitList("linux,darwin"); // ["linux", "darwin"]
 * ```
 */
export function splitList(values: string | readonly string[] | undefined): string[] {
  const all = typeof values === "string" ? [values] : values ?? [];
  return all.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/** Bounds for {@linkcode parseIntegerFlag}. */
export interface IntegerFlagBounds {
  min: number;
  max: number;
  /** What the number counts, for the message ("days"). */
  unit?: string;
}

/**
 * Reads the whole number `text` given to the flag `--<name>` within bounds; `undefined` when
 * `text` is (the flag is absent). Anything else (`0` where 1 is the least, `-3`, `1e3`,
 * `99999999` days) is a UsageError that says what to give.
 *
 * @example
 * ```ts
 * parseIntegerFlag("jobs", options.jobs, { min: 1, max: 256 }); // 8 for "8"
 * ```
 */
export function parseIntegerFlag(
  name: string,
  text: string | undefined,
  bounds: IntegerFlagBounds,
): number | undefined {
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
