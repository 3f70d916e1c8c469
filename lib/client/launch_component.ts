import { DownloadError, StorageError, VerificationError } from "../errors.ts";
import type { ComponentManifest } from "../format/manifest_types.ts";
import type { MirrorUpdater } from "../trust/mirror_updater.ts";
import { compareVersions } from "./compare_versions.ts";
import { componentDir } from "./component_dir.ts";
import { findInstalledEntry } from "./find_installed_entry.ts";
import { hostPlatform, type Platform } from "./host_platform.ts";
import { installComponent } from "./install_component.ts";
import { listInstalled } from "./list_installed.ts";
import type { ComponentSpec } from "./parse_component_spec.ts";
import { pickInstalledVersion } from "./pick_installed_version.ts";
import { readCachedComponent } from "./read_cached_component.ts";
import { runComponentProcess } from "./run_component_process.ts";
import { selectComponentVersion } from "./select_component_version.ts";
import { UnknownComponentError } from "./unknown_component_error.ts";

/** Something the user should read while a component is chosen and started. */
export interface LaunchNotice {
  level: "info" | "warn";
  message: string;
}

/** The profile's mirror, verified and brought up to date. */
export interface LaunchMirror {
  address: string;
  updater: MirrorUpdater;
}

/** Options for {@linkcode launchComponent}. */
export interface LaunchComponentOptions {
  /** The component's arguments. */
  args: string[];
  env: Record<string, string | undefined>;
  signal: AbortSignal;
  /** ferry's version, told to the component as TiUP tells its own. */
  clientVersion: string;
  /**
   * Opens the profile's mirror (only when the mirror is needed). A DownloadError or
   * StorageError counts as "unreachable" and lets an installed version run.
   */
  openMirror(): Promise<LaunchMirror>;
  /**
   * What to throw instead of `error` when no version of the component is installed and the
   * mirror cannot provide one (it is unreachable, or has no such component): the name may be a
   * mistyped command. Default: `error` itself.
   */
  whenNotInstalled?: (error: unknown) => unknown;
  onNotice?: (notice: LaunchNotice) => void;
}

interface Launch {
  home: string;
  spec: ComponentSpec;
  options: LaunchComponentOptions;
  installed: string[];
  platform: Platform;
}

/**
 * Runs the component `spec` from the profile at `home`, installing it when needed, and returns
 * its exit code (stdio inherited, signals forwarded). The version policy (TiUP's):
 *
 * - an installed version named explicitly runs without contacting the mirror;
 * - without a version, the newest installed stable version that the mirror offers runs, with a
 *   notice when the mirror has a newer one; installed versions the mirror does not offer
 *   (installed from another mirror) are passed over and the mirror's latest is installed; when
 *   the mirror has no such component at all, the newest installed version runs;
 * - when the mirror cannot be reached (network or missing directory) but a suitable version is
 *   installed (by what the mirror offered when last seen, its cached manifest), that version
 *   runs after a warning. Verification failures are never passed over.
 */
export async function launchComponent(
  home: string,
  spec: ComponentSpec,
  options: LaunchComponentOptions,
): Promise<number> {
  const installed = (await listInstalled(home)).find((c) => c.name === spec.name)?.versions ?? [];
  const launch: Launch = { home, spec, options, installed, platform: hostPlatform() };
  if (spec.version !== undefined && installed.includes(spec.version)) {
    const entry = await findInstalledEntry(home, spec.name, spec.version, launch.platform);
    if (entry) return await start(launch, spec.version, entry);
  }
  let mirror: LaunchMirror;
  try {
    mirror = await options.openMirror();
  } catch (error) {
    return await runOffline(launch, error);
  }
  const choice = spec.version === undefined
    ? await chooseInstalled(launch, mirror)
    : { kind: "install" as const, version: spec.version };
  if (choice.kind === "run") return await start(launch, choice.version, choice.entry);
  const { version } = choice;
  try {
    const result = await installComponent(mirror.updater, {
      home,
      name: spec.name,
      ...(version !== undefined ? { version } : {}),
      signal: options.signal,
      onProgress: (event) => {
        if (event.kind === "download") {
          notice(
            launch,
            "info",
            `The component ${spec.name} ${event.version} is not installed; downloading it from the mirror`,
          );
        }
      },
    });
    return await start(launch, result.version, result.entry);
  } catch (error) {
    if (error instanceof UnknownComponentError && installed.length === 0) {
      throw options.whenNotInstalled?.(error) ?? error;
    }
    throw error;
  }
}

/** The mirror cannot be opened: an installed version may still run, else the error stands. */
async function runOffline(launch: Launch, error: unknown): Promise<number> {
  const { home, spec, installed, platform } = launch;
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
      notice(
        launch,
        "warn",
        `Cannot reach the mirror (${
          firstLine(error)
        }): running the installed ${spec.name} ${fallback}`,
      );
      return await start(launch, fallback, entry);
    }
  }
  if (installed.length === 0) throw launch.options.whenNotInstalled?.(error) ?? error;
  throw error;
}

/** What to do when no installed version was named: run one, or install (this version). */
type Choice =
  | { kind: "run"; version: string; entry: string }
  | { kind: "install"; version: string | undefined };

/**
 * With no version named: the installed version to run (TiUP's rule: only versions this mirror
 * offers count; when the mirror has no such component at all, the newest installed one), or
 * install the mirror's latest.
 */
async function chooseInstalled(launch: Launch, mirror: LaunchMirror): Promise<Choice> {
  const { home, spec, installed, platform } = launch;
  if (installed.length === 0) return { kind: "install", version: undefined };
  const listed = mirror.updater.trusted.index!.signed.components;
  if (!Object.hasOwn(listed, spec.name)) {
    // The mirror does not carry the component at all: what is installed still runs.
    const fallback = pickInstalledVersion(installed);
    const entry = fallback && await findInstalledEntry(home, spec.name, fallback, platform);
    if (fallback && entry) {
      notice(
        launch,
        "warn",
        `The mirror "${mirror.address}" has no component "${spec.name}": running the installed ${spec.name} ${fallback}`,
      );
      return { kind: "run", version: fallback, entry };
    }
    return { kind: "install", version: undefined };
  }
  const manifest = (await mirror.updater.component(spec.name)).signed;
  const version = pickInstalledVersion(installed, { manifest, platform });
  if (version !== undefined) noteNewer(launch, version, manifest);
  else {
    notice(
      launch,
      "info",
      `The installed ${spec.name} ${
        installed.join(", ")
      } is not offered by the mirror "${mirror.address}": using the mirror's latest`,
    );
  }
  return { kind: "install", version };
}

async function start(launch: Launch, version: string, entry: string): Promise<number> {
  const { home, spec, options } = launch;
  const { args } = options;
  notice(
    launch,
    "info",
    `Starting component ${spec.name}: ${entry}${args.length ? ` ${args.join(" ")}` : ""}`,
  );
  return await runComponentProcess(entry, {
    home,
    component: spec.name,
    installDir: componentDir(home, spec.name, version),
    args,
    env: options.env,
    clientVersion: options.clientVersion,
    ...(spec.version !== undefined ? { requestedVersion: spec.version } : {}),
  });
}

function noteNewer(launch: Launch, running: string, manifest: ComponentManifest): void {
  const name = launch.spec.name;
  try {
    const latest = selectComponentVersion(manifest, { platform: launch.platform }).version;
    if (compareVersions(latest, running) > 0) {
      notice(
        launch,
        "info",
        `${name} ${latest} is available (running ${running}): "ferry install ${name}" gets it`,
      );
    }
  } catch {
    // No stable version for this platform: nothing to suggest.
  }
}

function notice(launch: Launch, level: LaunchNotice["level"], message: string): void {
  launch.options.onNotice?.({ level, message });
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
