import { type FSWatcher, watch } from "node:fs";

/** Tells listeners that something under a directory may have changed. */
export interface ChangeNotifier {
  /** Calls `listener` (with no details) after any change; listeners run in the order added. */
  onChange(listener: () => void): void;
}

/** A running watch; stop it with `close()`. */
export interface DirectoryWatcher extends ChangeNotifier {
  /** False when the platform refused to watch (or the watch failed later): no more events. */
  readonly watching: boolean;
  /** Stops watching (idempotent). */
  close(): void;
}

/** Options for {@linkcode watchDirectory}. */
export interface WatchDirectoryOptions {
  /** Called once if watching cannot start or stops with an error (listeners get one last call). */
  onError?: (error: unknown) => void;
}

/**
 * Watches `dir` and everything below it (inotify on Linux, FSEvents on macOS, through
 * `fs.watch({ recursive: true })`, which Bun and Deno both provide) and reports every event as
 * "something changed": a rename over a file, a delete, a new link, a write, a change of mode.
 * Reads do not count. Where watching is impossible (no inotify watches left, a filesystem without
 * notifications) `watching` is false and `onError` says why; changes on NFS made by other hosts
 * are never reported, which is why servers also revalidate on a timer.
 *
 * @example
 * ```ts
 * const watcher = watchDirectory("/srv/mirror", { onError: (e) => console.warn(e) });
 * watcher.onChange(() => console.log("changed"));
 * watcher.close();
 * ```
 */
export function watchDirectory(dir: string, options: WatchDirectoryOptions = {}): DirectoryWatcher {
  const listeners: Array<() => void> = [];
  const notify = () => {
    for (const listener of listeners) listener();
  };
  let watcher: FSWatcher | undefined;
  let failed = false;
  const fail = (error: unknown) => {
    if (failed) return;
    failed = true;
    watcher?.close();
    watcher = undefined;
    // Whatever happened since the last event is unknown: report it as a change.
    notify();
    options.onError?.(error);
  };
  try {
    watcher = watch(dir, { recursive: true, persistent: false }, notify);
    watcher.on("error", fail);
  } catch (error) {
    fail(error);
  }
  return {
    get watching() {
      return watcher !== undefined;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    close() {
      watcher?.close();
      watcher = undefined;
    },
  };
}
