import type { Clock } from "../clock.ts";
import * as nodePath from "node:path";
import { UsageError } from "../errors.ts";
import { MAX_ROOT_BYTES } from "../format/repo_defaults.ts";
import { MirrorUpdater } from "../trust/mirror_updater.ts";
import { LocalStorage } from "../storage/local_storage.ts";
import { readBytesIfPresent } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { BOOTSTRAP_ROOT, MANIFESTS_DIR } from "./set_mirror.ts";

/** Options for {@linkcode openClientUpdater}. */
export interface OpenClientUpdaterOptions {
  /** The clock. Default: the real time. */
  now?: Clock;
}

/**
 * The verifying updater a client command uses (TIUP-FORMAT.md §5.1): trust comes from
 * `<home>/manifests/root.json` (the newest root verified so far), else `<home>/bin/root.json`
 * (what `ferry mirror set` trusted); verified manifests are cached in `<home>/manifests/`, so
 * the versions seen in one run are the rollback floor of the next.
 *
 * When neither root file exists it throws UsageError telling the user to run
 * `ferry mirror set <mirror>` (TiUP's bare "cannot open the initial root.json", issue #893).
 *
 * @example
 * ```ts
 * const updater = await openClientUpdater(home, openStorage(address));
 * const { index } = await updater.refresh();
 * ```
 */
export async function openClientUpdater(
  home: string,
  mirror: StorageReader,
  options: OpenClientUpdaterOptions = {},
): Promise<MirrorUpdater> {
  const profile = new LocalStorage(home);
  const cache = new LocalStorage(nodePath.join(profile.location, MANIFESTS_DIR));
  const anchor = await readBytesIfPresent(profile, BOOTSTRAP_ROOT, { maxBytes: MAX_ROOT_BYTES });
  if (!anchor && !await readBytesIfPresent(cache, "root.json", { maxBytes: MAX_ROOT_BYTES })) {
    throw new UsageError(
      `No trusted root.json in "${profile.location}" (for the mirror "${mirror.location}"): ` +
        `run "ferry mirror set <mirror>" first; it fetches the mirror's root.json and shows its keys to check`,
    );
  }
  return new MirrorUpdater(mirror, {
    cache,
    ...(anchor ? { trustedRoot: anchor } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
