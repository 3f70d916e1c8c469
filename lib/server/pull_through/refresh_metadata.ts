import { cloneMirror, type CloneReport } from "../../mirror/clone/clone_mirror.ts";
import { MAX_ROOT_BYTES } from "../../format/repo_defaults.ts";
import { readBytes } from "../../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";

/** Options for {@linkcode startMetadataRefresh}. */
export interface MetadataRefreshOptions {
  /** Time between the end of one refresh and the start of the next. */
  intervalMs: number;
  /**
   * The upstream's verified manifests between refreshes (a client cache): its root is the trust
   * anchor once it holds one, so a later refresh accepts only a root chain from it.
   */
  cache: Storage;
  /** The upstream root to trust on the first refresh (default: the upstream's own, on first use). */
  trustedRoot?: Uint8Array;
  /** Clock (tests). */
  now?: () => Date;
  onRefreshed?: (report: CloneReport) => void;
  onError?: (error: unknown) => void;
}

/** A refresh loop; stop it at shutdown. */
export interface MetadataRefresh {
  /** Runs one refresh now (after the one in progress, if any). */
  refreshNow(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps a pull-through mirror's metadata current: every `intervalMs`, the clone is refreshed
 * from the upstream as `ferry mirror clone --no-tarballs` refreshes it — what it carries is
 * re-selected and re-verified against the upstream, new manifests are signed with the clone's
 * own keys (never the upstream's: clients keep trusting the clone), and no tarball is fetched
 * (the pull-through fetches those on demand). A failed refresh (upstream gone) changes nothing
 * and is reported; the next one tries again.
 */
export function startMetadataRefresh(
  upstream: StorageReader,
  local: Storage,
  options: MetadataRefreshOptions,
): MetadataRefresh {
  let running: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const once = async () => {
    try {
      const cached = await options.cache.stat("root.json").then(() => true, () => false);
      const trustedRoot = cached ? undefined : options.trustedRoot ??
        await readBytes(upstream, "root.json", { maxBytes: MAX_ROOT_BYTES });
      const report = await cloneMirror(upstream, local, {
        noTarballs: true,
        sourceCache: options.cache,
        ...(options.now ? { now: options.now() } : {}),
        ...(trustedRoot ? { trustedRoot } : {}),
      });
      options.onRefreshed?.(report);
    } catch (error) {
      options.onError?.(error);
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = running.then(once).then(schedule);
    }, options.intervalMs);
    (timer as { unref?: () => void }).unref?.();
  };
  schedule();
  return {
    refreshNow() {
      running = running.then(once);
      return running;
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
