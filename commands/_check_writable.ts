import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { StorageError } from "../lib/errors.ts";
import { TEMP_PREFIX } from "../lib/storage/local_storage.ts";

/**
 * Refuses, in words, a directory this process cannot create files in (a read-only mount,
 * permissions), before a command starts work that would end in a raw EROFS/EACCES. It writes
 * and removes a temp-named file: runtimes emulate access(2) from the mode bits, which says
 * nothing about a read-only mount, and a crash leaves only a name the temp sweep removes.
 * `what` begins the message: `Cannot renew on "/srv/m"`.
 */
export async function checkWritableDirectory(dir: string, what: string): Promise<void> {
  const probe = nodePath.join(dir, `${TEMP_PREFIX}probe-${process.pid}-${Date.now()}`);
  await fs.writeFile(probe, "", { flag: "wx" }).then(() => fs.rm(probe), (error) => {
    const why = error.code === "EROFS"
      ? "it is on a read-only file system"
      : error.code === "EACCES" || error.code === "EPERM"
      ? "permission denied (run as the directory's owner)"
      : String(error.code ?? error.message);
    throw new StorageError(`${what}: ${why}`);
  });
}
