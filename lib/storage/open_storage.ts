import { HttpStorage, type HttpStorageOptions } from "./http_storage.ts";
import { LocalStorage } from "./local_storage.ts";
import { type Environment, loadS3Config } from "./s3_config.ts";
import { isS3Location, parseS3Location } from "./s3_location.ts";
import { S3Storage } from "./s3_storage.ts";
import type { Storage, StorageReader } from "./storage.ts";

/** Options for {@linkcode openStorage}: HTTP limits, and where S3 settings come from. */
export interface OpenStorageOptions extends HttpStorageOptions {
  /** The environment S3 endpoint and credentials are read from (default: the process's). */
  env?: Environment;
}

/** True when `location` names an HTTP(S) mirror rather than a directory or a bucket. */
export function isRemoteLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

export { isS3Location };

/**
 * The only place that chooses a backend: "http://…"/"https://…" opens a read-only HTTP mirror,
 * "s3://BUCKET/PREFIX" a bucket (endpoint and credentials from `AWS_*` and the profile, read on
 * first use), anything else a local directory.
 */
export function openStorage(location: string, options: OpenStorageOptions = {}): StorageReader {
  if (isRemoteLocation(location)) {
    const { env: _, ...http } = options;
    return new HttpStorage(location, http);
  }
  return openWritableStorage(location, options);
}

/** Opens a location that will be written to; an HTTP location is refused with a clear error. */
export function openWritableStorage(
  location: string,
  options: { env?: Environment } = {},
): Storage {
  if (isRemoteLocation(location)) {
    throw new TypeError(
      `Cannot write to "${location}": only local directories and s3:// buckets can be written`,
    );
  }
  if (isS3Location(location)) {
    const env = options.env ?? process.env;
    return new S3Storage(parseS3Location(location), { config: () => loadS3Config(env) });
  }
  return new LocalStorage(location);
}
