/**
 * What the mirror-writing verbs share (folder-private): which mirror directory to write, where
 * its role keys are, which private key signs, and how results are reported.
 *
 * Mirror choice, first match wins: the explicit argument or `--mirror DIR`; `$FERRY_MIRROR`;
 * `$TIUP_MIRRORS`; `mirror = "…"` in `$FERRY_HOME/ferry.toml` (or tiup.toml), as written by
 * `ferry mirror set`. Local directories and `s3://BUCKET/PREFIX` can be written, HTTP mirrors
 * not.
 *
 * @module
 */
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { type FlagSpec, type FlagValues, integerFlag, stringFlag } from "../../lib/cli/command.ts";
import type { Output } from "../../lib/cli/output.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";
import { UsageError } from "../../lib/errors.ts";
import type { SigningKey } from "../../lib/repo/key_info.ts";
import { loadSigningKey } from "../../lib/repo/load_key.ts";
import type { KeyLocation } from "../../lib/repo/repo_keys.ts";
import type { UpdateResult } from "../../lib/repo/update_repository.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import type { MirrorLockOptions } from "../../lib/repo/mirror_lock.ts";
import {
  isRemoteLocation,
  isS3Location,
  openWritableStorage,
} from "../../lib/storage/open_storage.ts";
import { parseS3Location } from "../../lib/storage/s3_location.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { checkWritableDirectory } from "../_check_writable.ts";

/** Flags every writing verb accepts. */
export const MIRROR_FLAGS: Record<string, FlagSpec> = {
  mirror: {
    type: "string",
    valueName: "DIR",
    description:
      "Mirror directory or s3://BUCKET/PREFIX (default: $FERRY_MIRROR, $TIUP_MIRRORS, then `ferry mirror set`)",
  },
  "key-dir": {
    type: "string",
    valueName: "DIR",
    description: "Where the mirror's index/snapshot/timestamp keys are (default: DIR/keys)",
  },
};

/** The `-k/--key` flag of verbs that sign as an owner. */
export const KEY_FLAG: FlagSpec = {
  type: "string",
  short: "k",
  valueName: "FILE",
  description: "Private key file to sign with (default: $FERRY_HOME/keys/private.json)",
};

/** Options for {@linkcode resolveMirrorDir}. */
export interface ResolveMirrorDirOptions {
  /** The verb only reads the mirror (`rotate --prepare`): skip the writability check. */
  readOnly?: boolean;
}

/**
 * The mirror directory to write, resolved as the module doc says. A path that is a file, or a
 * directory this process cannot write (read-only file system, permissions), is refused here
 * with a plain sentence rather than the raw EEXIST/EROFS of the first write.
 */
export async function resolveMirrorDir(
  explicit: string | undefined,
  env: Record<string, string | undefined>,
  verb: string,
  options: ResolveMirrorDirOptions = {},
): Promise<string> {
  let location = explicit || env.FERRY_MIRROR || env.TIUP_MIRRORS;
  if (!location) {
    const config = await readProfileConfig(ferryHome(env));
    location = config.mirror;
  }
  if (!location) {
    throw new UsageError(
      `"ferry mirror ${verb}" needs a mirror: pass --mirror DIR, set FERRY_MIRROR, or run "ferry mirror set DIR"`,
    );
  }
  if (isRemoteLocation(location)) {
    throw new UsageError(
      `Cannot ${verb} on "${location}": ferry writes only to mirror directories and s3:// ` +
        `buckets; run this on the machine that holds the directory, with --mirror DIR`,
    );
  }
  if (isS3Location(location)) {
    parseS3Location(location); // a bad bucket or prefix is a usage error before anything else
    return location;
  }
  const dir = nodePath.resolve(location);
  const info = await fs.stat(dir).catch(() => undefined);
  if (info && !info.isDirectory()) {
    throw new UsageError(
      `Cannot ${verb} on "${dir}": it is a file, not a mirror directory (pass --mirror DIR)`,
    );
  }
  if (info && !options.readOnly) await checkWritableDirectory(dir, `Cannot ${verb} on "${dir}"`);
  return dir;
}

/** The mirror's storage and where its role keys are (`--key-dir`, else `<mirror>/keys`). */
export function openMirror(
  dir: string,
  flags: FlagValues,
  env: Record<string, string | undefined> = process.env,
): { storage: Storage; keys: KeyLocation } {
  const storage = openWritableStorage(dir, { env });
  const keyDir = stringFlag(flags, "key-dir");
  const keys = keyDir ? { storage: new LocalStorage(keyDir), prefix: "" } : {
    storage,
    prefix: "keys/",
  };
  return { storage, keys };
}

/** How a writer waits for another one's lock: it says so, once. */
export function lockReporting(out: Output): { lock: Omit<MirrorLockOptions, "now"> } {
  return { lock: { onWait: (message) => out.info(message) } };
}

/** The default private key: `$FERRY_HOME/keys/private.json` (TiUP: ~/.tiup/keys/private.json). */
export function defaultKeyPath(env: Record<string, string | undefined>): string {
  return nodePath.join(ferryHome(env), "keys", "private.json");
}

/** Loads the signing key named by `-k`, or the default one, with a hint when it is missing. */
export async function loadOwnerKey(
  flags: FlagValues,
  env: Record<string, string | undefined>,
): Promise<SigningKey> {
  const path = stringFlag(flags, "key") ?? defaultKeyPath(env);
  try {
    return await loadSigningKey(path);
  } catch (error) {
    if (stringFlag(flags, "key") === undefined && /ENOENT/.test((error as Error).message)) {
      throw new UsageError(
        `Cannot find the key "${path}": create it with "ferry mirror genkey", or pass -k FILE`,
      );
    }
    throw error;
  }
}

/**
 * The longest manifest life a day-count flag accepts: 100 years keeps every expiry a valid
 * RFC 3339 date (99999999 days is past the year 9999) and is far beyond any sane rotation.
 */
export const MAX_EXPIRY_DAYS = 36_500;

/** Parses a day-count flag: a whole number from 1 (0 would sign an expired manifest). */
export function daysFlag(flags: FlagValues, name: string): number | undefined {
  return integerFlag(flags, name, { min: 1, max: MAX_EXPIRY_DAYS, unit: "days" });
}

/** Prints what a transaction wrote, what it renewed and what is still expired. */
export function reportUpdate(out: Output, result: UpdateResult, what: string): void {
  for (const warning of result.warnings) out.warn(warning);
  const indexWritten = result.files.some((f) => /^\d+\.index\.json$/.test(f));
  for (const expired of result.before.expired) {
    const name = expired.file.slice(expired.file.lastIndexOf("/") + 1);
    if (name === "snapshot.json" || name === "timestamp.json") {
      out.info(`Renewed "${name}", which had expired at ${expired.expires}`);
    } else if (/^\d+\.index\.json$/.test(name)) {
      if (indexWritten) out.info(`Renewed the index, which had expired at ${expired.expires}`);
      else {
        out.warn(
          `"${expired.file}" expired at ${expired.expires}: renew it with "ferry mirror renew --index-days 365"`,
        );
      }
    }
  }
  out.print(what);
  out.info(
    `Wrote ${result.files.join(", ")} (timestamp version ${result.timestampVersion})${
      result.commitDir ? `; copy in ${result.commitDir}` : ""
    }`,
  );
}
