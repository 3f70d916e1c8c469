import { HttpStorage, type HttpStorageOptions } from "./http_storage.ts";
import { LocalStorage } from "./local_storage.ts";
import type { Storage, StorageReader } from "./storage.ts";

/** True when `location` names an HTTP(S) mirror rather than a directory. */
export function isRemoteLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/**
 * The only place that chooses a backend: "http://…"/"https://…" opens a read-only HTTP mirror,
 * anything else a local directory.
 */
export function openStorage(location: string, options: HttpStorageOptions = {}): StorageReader {
  return isRemoteLocation(location)
    ? new HttpStorage(location, options)
    : new LocalStorage(location);
}

/** Opens a location that will be written to; an HTTP location is refused with a clear error. */
export function openWritableStorage(location: string): Storage {
  if (isRemoteLocation(location)) {
    throw new TypeError(`Cannot write to "${location}": only local directories can be written`);
  }
  return new LocalStorage(location);
}
