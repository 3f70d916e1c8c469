import type { Storage } from "../storage/storage.ts";

/** The name of the write that makes a transaction visible to clients. */
const COMMIT_POINT = "timestamp.json";

/**
 * `storage` as a writer holding a lease sees it: every write and delete first runs `fence`
 * (which throws once the lease is lost), and the write of `timestamp.json` — the commit point —
 * first proves the lease on the server. Reads and the optional capabilities pass straight
 * through, bound to the storage (backends keep private state).
 */
export function fenced(
  storage: Storage,
  fence: (options?: { renew?: boolean }) => Promise<void>,
): Storage {
  const view: Storage = {
    location: storage.location,
    stat: (path, options) => storage.stat(path, options),
    read: (path, options) => storage.read(path, options),
    list: (prefix, options) => storage.list(prefix, options),
    async write(path, data, options) {
      await fence({ renew: path === COMMIT_POINT });
      return await storage.write(path, data, options);
    },
    async delete(path, options) {
      await fence();
      return await storage.delete(path, options);
    },
  };
  if (storage.copy) {
    const copy = storage.copy.bind(storage);
    view.copy = async (from, to) => {
      await fence();
      return await copy(from, to);
    };
  }
  if (storage.sweepTempFiles) view.sweepTempFiles = storage.sweepTempFiles.bind(storage);
  return view;
}
