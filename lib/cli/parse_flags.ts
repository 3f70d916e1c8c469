/**
 * ferry's command-line flag parser. It follows cobra/pflag (what TiUP users type) rather than
 * node's `util.parseArgs`:
 *
 * - a boolean flag is `--hide`, or `--hide=VALUE` with any spelling Go's `strconv.ParseBool`
 *   takes (`1 t T TRUE true True`, `0 f F FALSE false False`); it never takes the next word;
 * - a string flag is `--days 30`, `--days=30`, `-j 4`, `-j4` or `-j=4`; the next word is its
 *   value even when it starts with a dash (`--days -1` reaches the command, which can say why
 *   -1 is wrong, instead of "argument is ambiguous");
 * - short booleans combine (`-fq`); the last of a non-repeatable flag wins; `--` ends the flags.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { DynamicFlag, FlagSpec, FlagSpecs, FlagValues, TypedFlags } from "./command.ts";

/** A flag the command does not declare, so the caller can suggest the closest one. */
export class UnknownFlagError extends UsageError {
  /** As typed, without its value: "--lisen" or "-x". */
  readonly flag: string;
  constructor(flag: string) {
    super(`Unknown flag "${flag}"`);
    this.name = "UnknownFlagError";
    this.flag = flag;
  }
}

/** Options for {@linkcode parseFlags}. */
export interface ParseFlagsOptions {
  /**
   * Undeclared long flags are collected in `dynamic` instead of refused (`--tidb v1,v2` for
   * clone); one without `=` takes the next word as its value unless that word starts with a
   * dash (then it has none).
   */
  dynamic?: boolean;
}

/** What {@linkcode parseFlags} found: the values (defaults filled in) and the positionals. */
export interface ParsedFlags<F extends FlagSpecs = FlagSpecs> {
  /** Every declared flag, typed from the specs (booleans false and lists empty when absent). */
  flags: TypedFlags<F>;
  /**
   * The flags that were given or have a default, by name.
   *
   * @deprecated Read `flags`: its keys and value types come from the specs.
   */
  values: FlagValues;
  positionals: string[];
  /** Undeclared long flags, in order (with the `dynamic` option; else always empty). */
  dynamic: DynamicFlag[];
}

const TRUE_WORDS = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/**
 * Reads a boolean flag's `=VALUE` as Go's `strconv.ParseBool` does, so `--hide=false` and
 * `--hide=0` mean what they mean to tiup. Throws UsageError for anything else.
 *
 * @example
 * ```ts
 * parseBooleanValue("--hide", "false"); // false
 * ```
 */
export function parseBooleanValue(flag: string, text: string): boolean {
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  throw new UsageError(`Cannot use ${flag}="${text}": a yes/no flag takes true or false`);
}

/**
 * Parses `args` against the declared flags. Throws {@linkcode UnknownFlagError} for an
 * undeclared flag and UsageError for a missing or malformed value. The type of `flags` in the
 * result is derived from `specs` (see TypedFlags).
 *
 * @example
 * ```ts
 * const { flags } = parseFlags(["v1", "--hide=false", "-j", "4"], {
 *   hide: { type: "boolean", description: "" },
 *   jobs: { type: "string", short: "j", description: "" },
 *   key: { type: "string", multiple: true, description: "" },
 * }); // flags: { hide: false, jobs: "4", key: [] }, positionals: ["v1"]
 * flags.jobs; // string | undefined
 * ```
 */
export function parseFlags<const F extends FlagSpecs>(
  args: readonly string[],
  specs: F,
  options: ParseFlagsOptions = {},
): ParsedFlags<F> {
  const values: FlagValues = {};
  const positionals: string[] = [];
  const dynamic: DynamicFlag[] = [];
  const byShort = new Map(
    Object.entries(specs).flatMap(([name, spec]) => spec.short ? [[spec.short, name]] : []),
  );
  const set = (name: string, value: string | boolean) => {
    const spec = specs[name]!;
    if (spec.multiple && typeof value === "string") {
      const previous = values[name];
      values[name] = [...(Array.isArray(previous) ? previous : []), value];
    } else {
      values[name] = value;
    }
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
      const inline = equals === -1 ? undefined : arg.slice(equals + 1);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) {
        if (!options.dynamic) throw new UnknownFlagError(`--${name}`);
        const next = args[i + 1];
        const takesNext = inline === undefined && next !== undefined && !next.startsWith("-");
        if (takesNext) i++;
        dynamic.push({ name, value: takesNext ? next : inline });
        continue;
      }
      if (spec.type === "boolean") {
        set(name, inline === undefined ? true : parseBooleanValue(`--${name}`, inline));
      } else if (inline !== undefined) {
        set(name, inline);
      } else {
        set(name, takeValue(args, ++i, `--${name}`, specs));
      }
      continue;
    }
    // Short flags: -f, -fq, -j4, -j 4, -j=4, -f=false.
    for (let at = 1; at < arg.length; at++) {
      const letter = arg[at]!;
      const name = byShort.get(letter);
      if (name === undefined) throw new UnknownFlagError(`-${letter}`);
      const spec = specs[name]!;
      const rest = arg.slice(at + 1);
      if (spec.type === "boolean") {
        if (rest.startsWith("=")) {
          set(name, parseBooleanValue(`-${letter}`, rest.slice(1)));
          break;
        }
        set(name, true);
        continue;
      }
      if (rest !== "") set(name, rest.startsWith("=") ? rest.slice(1) : rest);
      else set(name, takeValue(args, ++i, `-${letter}`, specs));
      break;
    }
  }

  for (const [name, spec] of Object.entries(specs)) {
    if (values[name] === undefined && spec.default !== undefined) values[name] = spec.default;
  }
  return { flags: typedFlags(specs, values), values, positionals, dynamic };
}

/** Each declared flag's value in the shape its spec promises (see FlagValueOf). */
function typedFlags<F extends FlagSpecs>(specs: F, values: FlagValues): TypedFlags<F> {
  const typed: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = values[name];
    if (spec.type === "boolean") {
      typed[name] = spec.tristate && value === undefined ? undefined : value === true;
    } else if (spec.multiple) {
      typed[name] = Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
    } else typed[name] = Array.isArray(value) ? value.at(-1) : value;
  }
  return typed as TypedFlags<F>;
}

/**
 * The word after a string flag. As in pflag it may start with a dash (`--days -1`); only a word
 * that is itself one of the command's long flags (`--source --full`) counts as missing.
 */
function takeValue(
  args: readonly string[],
  at: number,
  flag: string,
  specs: Record<string, FlagSpec>,
): string {
  const value = args[at];
  const namesAFlag = value !== undefined && value.startsWith("--") &&
    Object.hasOwn(specs, value.slice(2).split("=")[0] ?? "");
  if (value === undefined || namesAFlag) {
    throw new UsageError(`Flag ${flag} needs a value`);
  }
  return value;
}
