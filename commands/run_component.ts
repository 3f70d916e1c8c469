/**
 * `ferry <component>[:version] [args...]`: what runs when argv names no ferry command.
 *
 * @module
 */
import { closestMatch } from "../lib/cli/closest_match.ts";
import type { FallbackRunner } from "../lib/cli/run_cli.ts";
import { ferryHome } from "../lib/client/home_dir.ts";
import { launchComponent } from "../lib/client/launch_component.ts";
import { type ComponentSpec, parseComponentSpec } from "../lib/client/parse_component_spec.ts";
import { UnknownComponentError } from "../lib/client/unknown_component_error.ts";
import { UsageError } from "../lib/errors.ts";
import { FERRY_VERSION } from "../lib/version.ts";
import { openClientMirror } from "./_client_context.ts";
import { ALL_COMMANDS } from "./all_commands.ts";

/**
 * Runs a component (launchComponent: which version, offline fallback, install, run): `ferry
 * hello a b` installs hello if needed and runs its entry binary with the arguments, exiting
 * with the component's exit code. A leading `--` is dropped (`ferry hello -- --debug` passes
 * `--debug`, which ferry would otherwise take as its own flag). A name that is not a component
 * is reported as an unknown command, with a suggestion.
 */
export const runComponent: FallbackRunner = async (name, rawArgs, context) => {
  const { env, out } = context;
  let spec: ComponentSpec;
  try {
    spec = parseComponentSpec(name);
  } catch {
    throw unknownCommand(name);
  }
  return await launchComponent(ferryHome(env), spec, {
    args: rawArgs[0] === "--" ? rawArgs.slice(1) : rawArgs,
    env,
    signal: context.signal,
    clientVersion: FERRY_VERSION,
    openMirror: async () => {
      const client = await openClientMirror({ env, out });
      return { address: client.mirror.address, updater: client.updater };
    },
    whenNotInstalled: (error) =>
      error instanceof UnknownComponentError || closestMatch(name, commandWords()) !== undefined
        ? unknownCommand(name, error)
        : error,
    onNotice: ({ level, message }) => level === "warn" ? out.warn(message) : out.info(message),
  });
};

function commandWords(): Set<string> {
  return new Set(ALL_COMMANDS.map((c) => c.name.split(" ")[0] ?? ""));
}

function unknownCommand(name: string, cause?: unknown): UsageError {
  const suggestion = closestMatch(name, commandWords());
  const hint = suggestion ? `; did you mean "${suggestion}"?` : "";
  const why = cause instanceof UnknownComponentError
    ? "it is neither a ferry command nor a component on the mirror"
    : cause
    ? `it is not a ferry command or an installed component, and the mirror cannot be read (${
      firstLine(cause)
    })`
    : "it is not a ferry command or a component name";
  return new UsageError(`Unknown command "${name}": ${why}${hint} (see "ferry --help")`);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
