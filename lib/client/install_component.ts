import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { ArchiveError } from "../archive/archive_error.ts";
import { extractTarball } from "../archive/extract_tarball.ts";
import { AlreadyExistsError, printable } from "../errors.ts";
import type { ComponentManifest, Verified, VersionItem } from "../format/manifest_types.ts";
import type { MirrorUpdater } from "../trust/mirror_updater.ts";
import { urlToPath } from "../format/versioned_name.ts";
import { LocalStorage } from "../storage/local_storage.ts";
import { entryPath } from "./_entry_path.ts";
import { checkComponentName } from "./check_component_name.ts";
import { componentDir } from "./component_dir.ts";
import { hostPlatform, type Platform } from "./host_platform.ts";
import { selectComponentVersion } from "./select_component_version.ts";
import { UnknownComponentError } from "./unknown_component_error.ts";
import { YankedVersionError } from "./yanked_version_error.ts";

/** Progress of an install, for the command to print. */
export type InstallProgress =
  | { kind: "download"; component: string; version: string; url: string; length: number }
  | { kind: "extract"; component: string; version: string };

/** Options for {@linkcode installComponent}. */
export interface InstallComponentOptions {
  /** The profile directory ($FERRY_HOME). */
  home: string;
  name: string;
  /** Explicit version, "nightly", or absent for the latest stable. */
  version?: string;
  /** Default: the host's. */
  platform?: Platform;
  onProgress?: (event: InstallProgress) => void;
  signal?: AbortSignal;
}

/** What {@linkcode installComponent} did. */
export interface InstallResult {
  name: string;
  version: string;
  /** The platform key the build came from ("linux/amd64" or "any/any"). */
  platform: string;
  /** `<home>/components/<name>/<version>`. */
  dir: string;
  /** Absolute path of the entry binary. */
  entry: string;
  /** False when the version was already installed and nothing was downloaded. */
  installed: boolean;
  /** The verified component manifest the version came from. */
  manifest: Verified<ComponentManifest>;
}

/**
 * Installs a component version from a refreshed {@linkcode MirrorUpdater} (call `refresh()`
 * first) into `<home>/components/<name>/<version>` (TIUP-FORMAT.md §5.5).
 *
 * Guarantees:
 * - The component must be in the verified index and not yanked (UnknownComponentError); the
 *   version is chosen by {@linkcode selectComponentVersion} (explicit, "nightly", or latest
 *   stable; host platform, then any/any; yanked refused with YankedVersionError, whose
 *   `carried` is false when the mirror lacks the tarball: a clone's uncopied version).
 * - The tarball is streamed through the updater's verified path: its length and every hash its
 *   signed manifest lists (sha256, and sha512 when present) are checked before the download is
 *   kept; on a mismatch nothing is installed (HashMismatchError / LengthMismatchError).
 * - It is unpacked with extractTarball (no "..", absolute paths or escaping links) into a hidden
 *   staging directory, the entry binary is checked to exist inside it, and only then is the
 *   directory renamed into place. On any failure nothing is left: no half-installed version,
 *   no download, no staging directory.
 * - Already installed: nothing is fetched beyond the manifests; `installed` is false.
 *
 * @example
 * ```ts
 * await updater.refresh();
 * const result = await installComponent(updater, { home, name: "hello", version: "v1.0.0" });
 * result.entry; // ".../components/hello/v1.0.0/hello"
 * ```
 */
export async function installComponent(
  updater: MirrorUpdater,
  options: InstallComponentOptions,
): Promise<InstallResult> {
  const { home, name } = options;
  checkComponentName(name);
  const index = updater.trusted.index;
  const listed = index && Object.hasOwn(index.signed.components, name)
    ? index.signed.components[name]
    : undefined;
  if (!listed) {
    throw new UnknownComponentError(
      name,
      `The mirror has no component "${printable(name)}": see "ferry list" for what it has`,
    );
  }
  if (listed.yanked) {
    throw new UnknownComponentError(
      name,
      `Component "${name}" is yanked on the mirror (withdrawn by its publisher)`,
    );
  }
  const manifest = await updater.component(name);
  const platform = options.platform ?? hostPlatform();
  let selected;
  try {
    selected = selectComponentVersion(manifest.signed, {
      platform,
      ...(options.version !== undefined ? { version: options.version } : {}),
    });
  } catch (error) {
    // Yanked by its publisher, or listed by a clone that did not copy it: the tarball says which.
    if (error instanceof YankedVersionError && !await tarballPresent(updater, error.item)) {
      throw new YankedVersionError(error.component, error.version, error.item, false);
    }
    throw error;
  }
  const { version, item } = selected;
  const dir = componentDir(home, name, version);
  const result = { name, version, platform: selected.platform, dir, manifest };

  if (await isDirectory(dir)) {
    const entry = await entryPath(dir, item.entry);
    if (entry) return { ...result, entry, installed: false };
    // A directory without its entry is not a usable install; refuse rather than guess.
    throw new ArchiveError(
      dir,
      `it is installed but has no entry "${
        printable(item.entry)
      }": run "ferry uninstall ${name}:${version}" and install again`,
    );
  }

  const parent = nodePath.dirname(dir);
  await fs.mkdir(parent, { recursive: true });
  const tag = randomBytes(6).toString("hex");
  const downloads = nodePath.join(parent, `.ferry-download-${tag}`);
  const staged = nodePath.join(parent, `.ferry-staged-${tag}`);
  try {
    const file = nodePath.basename(urlToPath(item.url));
    options.onProgress?.({
      kind: "download",
      component: name,
      version,
      url: item.url,
      length: item.length,
    });
    await updater.fetchVerifiedTarball(item, new LocalStorage(downloads), file);
    options.onProgress?.({ kind: "extract", component: name, version });
    await extractTarball(nodePath.join(downloads, file), staged, {
      name: file,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!await entryPath(staged, item.entry)) {
      throw new ArchiveError(
        file,
        `it has no file "${printable(item.entry)}", the entry its manifest names`,
      );
    }
    try {
      await fs.rename(staged, dir);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
      // Another ferry installed the same version meanwhile: theirs is as good as ours.
      const entry = await entryPath(dir, item.entry);
      if (!entry) throw new AlreadyExistsError(dir, { cause: error });
      return { ...result, entry, installed: false };
    }
    return { ...result, entry: (await entryPath(dir, item.entry))!, installed: true };
  } finally {
    await fs.rm(downloads, { recursive: true, force: true });
    await fs.rm(staged, { recursive: true, force: true });
    // Leave no empty component directory behind after a failed first install.
    await fs.rmdir(parent).catch(() => {});
  }
}

/** Whether the mirror holds the item's tarball; when that cannot be told, assume it does. */
async function tarballPresent(updater: MirrorUpdater, item: VersionItem): Promise<boolean> {
  return await updater.tarballExists(item).catch(() => true);
}

async function isDirectory(path: string): Promise<boolean> {
  return await fs.stat(path).then((info) => info.isDirectory(), () => false);
}
