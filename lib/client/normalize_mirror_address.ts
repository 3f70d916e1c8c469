import * as nodePath from "node:path";
import { UsageError } from "../errors.ts";
import { isRemoteLocation, isS3Location } from "../storage/open_storage.ts";

/**
 * A mirror address as the profile stores it: an http(s) URL is kept exactly as given (TiUP
 * hashes the exact string, trailing slash included, to name the cached root,
 * TIUP-FORMAT.md §5.6), anything else is a local directory and becomes an absolute path (TiUP
 * does the same despite its help text, §5.8). Throws UsageError for an empty address or one
 * with a line break or NUL (it could not be written to ferry.toml).
 *
 * @example
 * ```ts
 * normalizeMirrorAddress("mirror", "/srv");             // "/srv/mirror"
 * normalizeMirrorAddress("http://10.0.0.1:8080/");      // "http://10.0.0.1:8080/"
 * ```
 */
export function normalizeMirrorAddress(address: string, cwd: string = process.cwd()): string {
  const trimmed = address.trim();
  if (trimmed === "") {
    throw new UsageError("The mirror address is empty: give a directory or an http(s) URL");
  }
  if (/[\r\n\0]/.test(trimmed)) {
    throw new UsageError("Cannot use a mirror address with a line break or NUL in it");
  }
  return isRemoteLocation(trimmed) || isS3Location(trimmed)
    ? trimmed
    : nodePath.resolve(cwd, trimmed);
}
