import { UsageError } from "../errors.ts";
import { checkPath } from "./check_path.ts";

/** A bucket and the key prefix under which a storage lives (`s3://BUCKET/PREFIX`). */
export interface S3Location {
  bucket: string;
  /** "" for the whole bucket, else ends with "/": "mirrors/tidb/". */
  prefix: string;
}

/** True when `location` is an `s3://` URL. */
export function isS3Location(location: string): boolean {
  return /^s3:\/\//i.test(location);
}

/**
 * Parses `s3://BUCKET` or `s3://BUCKET/PREFIX` (the prefix is checked by the one path rule, so
 * `s3://b/../x` is refused like any traversal). Bad input is a UsageError naming it.
 *
 * @example
 * parseS3Location("s3://ferry/mirrors/tidb"); // { bucket: "ferry", prefix: "mirrors/tidb/" }
 */
export function parseS3Location(location: string): S3Location {
  const match = /^s3:\/\/([^/?#]*)\/?([^?#]*)$/i.exec(location);
  if (!match) {
    throw new UsageError(`Cannot parse the S3 location "${location}": use s3://BUCKET/PREFIX`);
  }
  const bucket = match[1]!;
  // S3's bucket naming rule (also what Ceph accepts by default), so a typo is caught here.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes("..")) {
    throw new UsageError(
      `Cannot use the bucket name "${bucket}" in "${location}": 3 to 63 lower-case letters, ` +
        `digits, dots and hyphens`,
    );
  }
  const prefix = match[2]!.replace(/\/+$/, "");
  if (prefix !== "") {
    try {
      checkPath(prefix);
    } catch (error) {
      throw new UsageError(
        `Cannot use the prefix "${prefix}" in "${location}": ${(error as Error).message}`,
      );
    }
  }
  return { bucket, prefix: prefix === "" ? "" : `${prefix}/` };
}
