/**
 * What the mirror-writing verbs share (folder-private): which mirror directory to write, where
 * its role keys are, which private key signs, and how results are reported.
 *
 * Mirror choice, first match wins: the explicit argument or `--mirror DIR`; `$FERRY_MIRROR`;
 * `$TIUP_MIRRORS`; `mirror = "…"` in `$FERRY_HOME/ferry.toml` (or tiup.toml), as written by
 * `ferry mirror set`. Only local directories can be written.
 *
 * @module
 */
import * as nodePath from "node:path";
import { type FlagSpec, type FlagValues, stringFlag } from "../../lib/cli/command.ts";
import type { Output } from "../../lib/cli/output.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";
import { UsageError } from "../../lib/errors.ts";
import type { SigningKey } from "../../lib/repo/key_info.ts";
import { loadSigningKey } from "../../lib/repo/load_key.ts";
import type { KeyLocation } from "../../lib/repo/repo_keys.ts";
import type { UpdateResult } from "../../lib/repo/update_repository.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { isRemoteLocation } from "../../lib/storage/open_storage.ts";

/** Flags every writing verb accepts. */
export const MIRROR_FLAGS: Record<string, FlagSpec> = {
  mirror: {
    type: "string",
    valueName: "DIR",
    description:
      "Mirror directory (default: $FERRY_MIRROR, $TIUP_MIRRORS, then `ferry mirror set`)",
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

/** The mirror directory to write, resolved as the module doc says. */
export async function resolveMirrorDir(
  explicit: string | undefined,
  env: Record<string, string | undefined>,
  verb: string,
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
      `Cannot ${verb} on "${location}": ferry writes only to mirror directories; run this on ` +
        `the machine that holds the directory, with --mirror DIR`,
    );
  }
  return nodePath.resolve(location);
}

/** The mirror's storage and where its role keys are (`--key-dir`, else `<mirror>/keys`). */
export function openMirror(
  dir: string,
  flags: FlagValues,
): { storage: LocalStorage; keys: KeyLocation } {
  const storage = new LocalStorage(dir);
  const keyDir = stringFlag(flags, "key-dir");
  const keys = keyDir ? { storage: new LocalStorage(keyDir), prefix: "" } : {
    storage,
    prefix: "keys/",
  };
  return { storage, keys };
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

/** Parses a whole-number day count flag. */
export function daysFlag(flags: FlagValues, name: string): number | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new UsageError(`Cannot use --${name} "${text}": give a whole number of days`);
  }
  return Number(text);
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
