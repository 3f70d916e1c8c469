import { bodyStream } from "./read_bytes.ts";
import type { FileStat, Storage } from "./storage.ts";

/**
 * Makes `to` hold the bytes of `from`, replacing it atomically: through the backend's own copy
 * where it has one (a hard link on local disk, a server-side copy on S3), else by streaming the
 * object through this process. A missing `from` throws NotFoundError.
 *
 * @example
 * await copyObject(storage, "hello-v1.0.0-linux-amd64.tar.gz", "commits/commit-1/hello.tar.gz");
 */
export async function copyObject(storage: Storage, from: string, to: string): Promise<FileStat> {
  if (storage.copy) return await storage.copy(from, to);
  return await storage.write(to, bodyStream(await storage.read(from)));
}
