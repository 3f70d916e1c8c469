import { closestMatch } from "../lib/cli/closest_match.ts";
import { type FlagSpecs, splitList } from "../lib/cli/command.ts";
import { printable, UsageError } from "../lib/errors.ts";

/** `--os` and `--arch`, as `ferry package` and `ferry mirror publish` both take them. */
export const PLATFORM_FLAGS = {
  os: {
    type: "string",
    valueName: "OS",
    description: "Target OS: linux, darwin or any (default: this host's)",
  },
  arch: {
    type: "string",
    valueName: "ARCH",
    description: "Target architecture: amd64, arm64 or any (default: this host's)",
  },
} as const satisfies FlagSpecs;

/** The operating systems and architectures TiUP mirrors carry (TIUP-FORMAT.md §0). */
const KNOWN = { os: ["linux", "darwin"], arch: ["amd64", "arm64"] } as const;

/** Other names people use for the same platforms (uname, Rust, Node), for the suggestion. */
const ALIASES: Record<string, string> = {
  x86_64: "amd64",
  x64: "amd64",
  amd: "amd64",
  aarch64: "arm64",
  arm: "arm64",
  macos: "darwin",
  osx: "darwin",
  mac: "darwin",
};

/** Options for {@linkcode platformFlag}. */
export interface PlatformFlagOptions {
  /** `any` is a valid value (publish and package: the any/any platform). */
  allowAny?: boolean;
}

/**
 * Reads `--os` or `--arch` as a list (`--arch amd64,arm64`, or the flag repeated) and refuses
 * any value a mirror cannot carry with a UsageError that lists the valid ones and suggests the
 * closest (`arm` → `arm64`), so a typo never silently drops a platform. `[]` when absent
 * (`text` undefined).
 */
export function platformFlag(
  name: "os" | "arch",
  text: string | undefined,
  options: PlatformFlagOptions = {},
): string[] {
  const valid: string[] = [...KNOWN[name], ...(options.allowAny ? ["any"] : [])];
  const values = splitList(text);
  for (const value of values) {
    if (valid.includes(value)) continue;
    const lower = value.toLowerCase();
    const suggestion = valid.includes(lower) ? lower : ALIASES[lower] ?? closestMatch(lower, valid);
    const hint = suggestion ? `; did you mean "${suggestion}"?` : "";
    throw new UsageError(
      `Cannot use --${name} "${printable(value)}": ${
        name === "os" ? "operating systems" : "architectures"
      } are ${valid.join(", ")}${hint}`,
    );
  }
  return values;
}

/** A single-valued `--os`/`--arch` (publish, package); undefined when absent. */
export function singlePlatformFlag(
  name: "os" | "arch",
  text: string | undefined,
): string | undefined {
  const values = platformFlag(name, text, { allowAny: true });
  if (values.length > 1) {
    throw new UsageError(`Cannot use --${name} "${values.join(",")}": give one value`);
  }
  return values[0];
}
