import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { UsageError } from "../../errors.ts";
import { LocalStorage } from "../../storage/local_storage.ts";
import type { StorageReader } from "../../storage/storage.ts";
import { cloneMirror, type CloneOptions, type CloneReport } from "./clone_mirror.ts";

/** What {@linkcode cloneIntoDirectory} did, and where. */
export interface DirectoryCloneReport extends CloneReport {
  /** The absolute target directory. */
  target: string;
}

/**
 * Clones into a local directory so that a crash at any instant leaves it usable or untouched:
 *
 * - a new (missing or empty) directory is built as a hidden sibling,
 *   `<parent>/.<name>.ferry-partial`, and renamed into place only when complete, so an
 *   interrupted first clone leaves the target absent; the next run resumes in the sibling
 *   without fetching again what it verified;
 * - an existing mirror (ferry's or TiUP's: it has `root.json`) is refreshed in place: files are
 *   verified before they appear and the manifests are written last, so clients see the old
 *   consistent state until the new one is complete;
 * - a first clone that fails with a UsageError (e.g. a version the source lacks) removes the
 *   sibling it created, so no freshly generated keys are left behind;
 * - a non-empty directory that is not a mirror is refused unless `overwrite` is set;
 * - cloning a local mirror into itself is refused (TiUP PR #1464);
 * - partial writes an earlier killed run left (`.ferry-tmp-*`) are removed once stale.
 */
export async function cloneIntoDirectory(
  source: StorageReader,
  directory: string,
  options: CloneOptions = {},
): Promise<DirectoryCloneReport> {
  const target = nodePath.resolve(directory);
  if (source instanceof LocalStorage && await sameDirectory(source.location, target)) {
    throw new UsageError(
      `Cannot clone "${source.location}" into itself: choose another target directory`,
    );
  }
  const info = await fs.stat(target).catch(() => undefined);
  if (info && !info.isDirectory()) {
    throw new UsageError(`Cannot clone into "${target}": it is not a directory`);
  }
  const entries = info ? await fs.readdir(target) : [];
  if (entries.length > 0) {
    if (!entries.includes("root.json") && !options.overwrite) {
      throw new UsageError(
        `Cannot clone into "${target}": it is not empty and holds no mirror (no root.json); ` +
          `choose a new directory, or pass --overwrite to write into it anyway`,
      );
    }
    await removeStaleTemporaries(target);
    const report = await cloneMirror(source, new LocalStorage(target), options);
    return { ...report, target };
  }

  const partial = nodePath.join(
    nodePath.dirname(target),
    `.${nodePath.basename(target)}.ferry-partial`,
  );
  await removeStaleTemporaries(partial);
  const resuming = await fs.stat(partial).then(() => true, () => false);
  let report;
  try {
    report = await cloneMirror(source, new LocalStorage(partial), options);
  } catch (error) {
    // A usage error (a version that does not exist…) comes before any download: what this run
    // created holds only freshly generated keys, which must not linger in someone's cwd.
    if (error instanceof UsageError && !resuming) {
      await fs.rm(partial, { recursive: true, force: true });
    }
    throw error;
  }
  if (info) await fs.rmdir(target);
  await fs.rename(partial, target);
  return { ...report, created: true, target };
}

/** Temporary files of writes a crash interrupted are removed once they are this old. */
const STALE_TEMPORARY_MS = 10 * 60 * 1000;

/**
 * Removes `.ferry-tmp-*` files (the partial writes of a killed run) once they are old enough that
 * no live writer can still own them. They are never served or listed, but would waste space and
 * travel along in a `tar czf` of the mirror.
 */
async function removeStaleTemporaries(dir: string): Promise<void> {
  await new LocalStorage(dir).sweepTempFiles({ before: new Date(Date.now() - STALE_TEMPORARY_MS) });
}

async function sameDirectory(a: string, b: string): Promise<boolean> {
  const real = async (path: string) => await fs.realpath(path).catch(() => nodePath.resolve(path));
  return (await real(a)).replace(/\/+$/, "") === (await real(b)).replace(/\/+$/, "");
}
