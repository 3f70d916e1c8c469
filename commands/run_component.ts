/**
 * `ferry <component>[:version] [args...]`: what runs when argv names no ferry command.
 *
 * @module
 */
import { closestMatch } from "../lib/cli/closest_match.ts";
import type { Output } from "../lib/cli/output.ts";
import type { FallbackRunner } from "../lib/cli/run_cli.ts";
import { compareVersions } from "../lib/client/compare_versions.ts";
import { componentDir } from "../lib/client/component_dir.ts";
import { findInstalledEntry } from "../lib/client/find_installed_entry.ts";
import { ferryHome } from "../lib/client/home_dir.ts";
import { hostPlatform } from "../lib/client/host_platform.ts";
import { installComponent } from "../lib/client/install_component.ts";
import { listInstalled } from "../lib/client/list_installed.ts";
import { type ComponentSpec, parseComponentSpec } from "../lib/client/parse_component_spec.ts";
import { pickInstalledVersion } from "../lib/client/pick_installed_version.ts";
import { readCachedComponent } from "../lib/client/read_cached_component.ts";
import { runComponentProcess } from "../lib/client/run_component_process.ts";
import { selectComponentVersion } from "../lib/client/select_component_version.ts";
import { UnknownComponentError } from "../lib/client/unknown_component_error.ts";
import { DownloadError, StorageError, UsageError, VerificationError } from "../lib/errors.ts";
import { FERRY_VERSION } from "../lib/version.ts";
import { openClientMirror } from "./_client_context.ts";
import { ALL_COMMANDS } from "./all_commands.ts";

/**
 * Runs a component: `ferry hello a b` installs hello if no version of it is installed (the
 * latest stable, or the version named with `hello:v1.0.0`), then runs its entry binary with the
 * arguments. stdin/stdout/stderr are the terminal's, signals are forwarded, and ferry exits
 * with the component's exit code. A leading `--` is dropped (`ferry hello -- --debug` passes
 * `--debug`, which ferry would otherwise take as its own flag).
 *
 * - An installed version named explicitly runs without contacting the mirror.
 * - Without a version, the newest installed stable version that the mirror offers runs (TiUP's
 *   rule); a note says when the mirror has a newer one. Installed versions the mirror does not
 *   offer (installed from another mirror) are passed over and the mirror's latest is installed;
 *   when the mirror has no such component at all, the newest installed version runs.
 * - When the mirror cannot be reached (network or missing directory) but a suitable version is
 *   installed, that version runs after a one-line warning. Verification failures are not
 *   ignored.
 * - A name that is not a component is reported as an unknown command, with a suggestion.
 */
export const runComponent: FallbackRunner = async (name, rawArgs, context) => {
  const { env, out } = context;
  let spec: ComponentSpec;
  try {
    spec = parseComponentSpec(name);
  } catch {
    throw unknownCommand(name);
  }
  const args = rawArgs[0] === "--" ? rawArgs.slice(1) : rawArgs;
  const home = ferryHome(env);
  const platform = hostPlatform();
  const installed = (await listInstalled(home)).find((c) => c.name === spec.name)?.versions ?? [];

  const run = async (version: string, entry: string) => {
    out.info(`Starting component ${spec.name}: ${entry}${args.length ? ` ${args.join(" ")}` : ""}`);
    return await runComponentProcess(entry, {
      home,
      component: spec.name,
      installDir: componentDir(home, spec.name, version),
      args,
      env,
      clientVersion: FERRY_VERSION,
      ...(spec.version !== undefined ? { requestedVersion: spec.version } : {}),
    });
  };

  // An installed version named explicitly needs nothing from the mirror.
  if (spec.version !== undefined && installed.includes(spec.version)) {
    const entry = await findInstalledEntry(home, spec.name, spec.version, platform);
    if (entry) return await run(spec.version, entry);
  }

  let client;
  try {
    client = await openClientMirror({ env, out });
  } catch (error) {
    // Offline, what this mirror offered when last seen (the cached manifest) still decides.
    const cached = await readCachedComponent(home, spec.name);
    const fallback = spec.version ??
      (cached && pickInstalledVersion(installed, { manifest: cached, platform })) ??
      pickInstalledVersion(installed);
    const unreachable = (error instanceof DownloadError || error instanceof StorageError) &&
      !(error instanceof VerificationError);
    if (unreachable && fallback !== undefined && installed.includes(fallback)) {
      const entry = await findInstalledEntry(home, spec.name, fallback, platform);
      if (entry) {
        out.warn(
          `Cannot reach the mirror (${
            firstLine(error)
          }): running the installed ${spec.name} ${fallback}`,
        );
        return await run(fallback, entry);
      }
    }
    if (installed.length === 0 && closestMatch(name, commandWords()) !== undefined) {
      throw unknownCommand(name, error);
    }
    throw error;
  }

  const { updater } = client;
  let version = spec.version;
  if (version === undefined && installed.length > 0) {
    const listed = updater.trusted.index!.signed.components;
    if (!Object.hasOwn(listed, spec.name)) {
      // The mirror does not carry the component at all: what is installed still runs.
      const fallback = pickInstalledVersion(installed);
      const entry = fallback && await findInstalledEntry(home, spec.name, fallback, platform);
      if (fallback && entry) {
        out.warn(
          `The mirror "${client.mirror.address}" has no component "${spec.name}": running the installed ${spec.name} ${fallback}`,
        );
        return await run(fallback, entry);
      }
    } else {
      // TiUP's rule: only installed versions that this mirror offers count; otherwise the
      // mirror's latest is installed (a version from another mirror is not this one's).
      const manifest = (await updater.component(spec.name)).signed;
      version = pickInstalledVersion(installed, { manifest, platform });
      if (version !== undefined) noteNewer(out, spec.name, version, manifest);
      else {
        out.info(
          `The installed ${spec.name} ${
            installed.join(", ")
          } is not offered by the mirror "${client.mirror.address}": using the mirror's latest`,
        );
      }
    }
  }
  try {
    const result = await installComponent(updater, {
      home,
      name: spec.name,
      ...(version !== undefined ? { version } : {}),
      signal: context.signal,
      onProgress: (event) => {
        if (event.kind === "download") {
          out.info(
            `The component ${spec.name} ${event.version} is not installed; downloading it from the mirror`,
          );
        }
      },
    });
    return await run(result.version, result.entry);
  } catch (error) {
    if (error instanceof UnknownComponentError && installed.length === 0) {
      throw unknownCommand(name, error);
    }
    throw error;
  }
};

function noteNewer(
  out: Output,
  name: string,
  running: string,
  manifest: Parameters<typeof selectComponentVersion>[0],
): void {
  try {
    const latest = selectComponentVersion(manifest, { platform: hostPlatform() }).version;
    if (compareVersions(latest, running) > 0) {
      out.info(
        `${name} ${latest} is available (running ${running}): "ferry install ${name}" gets it`,
      );
    }
  } catch {
    // No stable version for this platform: nothing to suggest.
  }
}

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
