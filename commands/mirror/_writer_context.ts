/**
 * What the mirror-writing verbs share (folder-private): which mirror directory to write, where
 * its role keys are, which private key signs, and how results are reported.
 *
 * Mirror choice, first match wins: the explicit argument or `--mirror DIR`; `$FERRY_MIRROR`;
 * `$TIUP_MIRRORS`; `mirror = "…"` in `$FERRY_HOME/ferry.toml` (or tiup.toml), as written by
 * `ferry mirror set`. Local directories and `s3://BUCKET/PREFIX` are written directly; publish
 * and modify also write to an http(s) mirror that serves the publish API (`ferry mirror serve
 * --publish`).
 *
 * @module
 */
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import {
  type FlagSpec,
  type FlagSpecs,
  parseIntegerFlag,
  type TypedFlags,
} from "../../lib/cli/command.ts";
import type { Output } from "../../lib/cli/output.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";
import { UsageError } from "../../lib/errors.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { loadSigningKey } from "../../lib/format/load_key.ts";
import type { KeyLocation } from "../../lib/writer/repo_keys.ts";
import type { UpdateResult } from "../../lib/writer/update_repository.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { fetchWithTls } from "../../lib/runtime.ts";
import type { MirrorLockOptions } from "../../lib/writer/mirror_lock.ts";
import {
  isRemoteLocation,
  isS3Location,
  openWritableStorage,
} from "../../lib/storage/open_storage.ts";
import { parseS3Location } from "../../lib/storage/s3_location.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { checkWritableDirectory } from "../_check_writable.ts";
import { parseDuration } from "../../proxy/parse_proxy_config.ts";

/** Flags every writing verb accepts. */
export const MIRROR_FLAGS = {
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
  "lock-wait": {
    type: "string",
    valueName: "DURATION",
    description:
      "How long to wait for another writer holding the mirror's lock or lease (default 2m; 0: fail at once)",
  },
} as const satisfies FlagSpecs;

/** The `-k/--key` flag of verbs that sign as an owner. */
export const KEY_FLAG = {
  type: "string",
  short: "k",
  valueName: "FILE",
  description: "Private key file to sign with (default: $FERRY_HOME/keys/private.json)",
} as const satisfies FlagSpec;

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
  const location = await mirrorLocation(explicit, env, verb);
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

/** The mirror to write, as given (a directory, s3:// or an http(s) URL), chosen as the module doc says. */
export async function mirrorLocation(
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
  return location;
}

/**
 * The flags of verbs that can write through a mirror's publish API (`--mirror http(s)://…`):
 * the bearer token, and the TLS a server with a private CA or client certificates needs.
 */
export const REMOTE_WRITE_FLAGS = {
  "token-file": {
    type: "string",
    valueName: "FILE",
    description:
      "With --mirror http://…: bearer token for the server's write API (or $FERRY_PUBLISH_TOKEN)",
  },
  cacert: {
    type: "string",
    valueName: "FILE",
    description: "With --mirror https://…: trust this CA (PEM) for the server's certificate",
  },
  "client-cert": {
    type: "string",
    valueName: "FILE",
    description: "With --mirror https://…: present this certificate (PEM), for --client-ca servers",
  },
  "client-key": {
    type: "string",
    valueName: "FILE",
    description: "With --client-cert: its private key (PEM)",
  },
} as const satisfies FlagSpecs;

/**
 * Refuses {@linkcode REMOTE_WRITE_FLAGS}' TLS flags for a mirror they cannot apply to (a
 * directory, a bucket, plain http): given there, they would be silently ignored.
 */
export function checkRemoteWriteFlags(
  location: string,
  options: TypedFlags<typeof REMOTE_WRITE_FLAGS>,
): void {
  const given = (["cacert", "client-cert", "client-key"] as const).filter((name) =>
    options[name] !== undefined
  );
  if (given.length > 0 && !/^https:\/\//i.test(location)) {
    throw new UsageError(
      `Cannot use --${given[0]} with the mirror "${location}": it is for --mirror https://…`,
    );
  }
}

/** What the remote writers take from {@linkcode REMOTE_WRITE_FLAGS}: a token and a fetch. */
export async function remoteWriteOptions(
  options: TypedFlags<typeof REMOTE_WRITE_FLAGS>,
  env: Record<string, string | undefined>,
): Promise<{ token?: string; fetch?: typeof fetch }> {
  const token = await publishToken(options["token-file"], env);
  const certFile = options["client-cert"];
  const keyFile = options["client-key"];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("Cannot use --client-cert without --client-key, or the other way round");
  }
  const caFile = options.cacert;
  const tls = {
    ...(caFile !== undefined ? { ca: await readPem(caFile, "--cacert") } : {}),
    ...(certFile !== undefined ? { cert: await readPem(certFile, "--client-cert") } : {}),
    ...(keyFile !== undefined ? { key: await readPem(keyFile, "--client-key") } : {}),
  };
  return {
    ...(token !== undefined ? { token } : {}),
    ...(Object.keys(tls).length > 0 ? { fetch: fetchWithTls(tls) } : {}),
  };
}

/** The bearer token for a publish API: `--token-file`, else `$FERRY_PUBLISH_TOKEN`, else none. */
async function publishToken(
  file: string | undefined,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  if (file === undefined) return env.FERRY_PUBLISH_TOKEN || undefined;
  const text = await fs.readFile(file, "utf8").catch((error) => {
    throw new UsageError(`Cannot read the token file "${file}": ${error.code ?? error.message}`);
  });
  return text.trim();
}

/** A PEM file's text, refused with a usage error when unreadable or not PEM. */
async function readPem(file: string, flag: string): Promise<string> {
  const text = await fs.readFile(file, "utf8").catch((error) => {
    throw new UsageError(`Cannot read ${flag} "${file}": ${error.code ?? error.message}`);
  });
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(text)) {
    throw new UsageError(`Cannot use ${flag} "${file}": it is not a PEM file`);
  }
  return text;
}

/** The mirror's storage and where its role keys are (`--key-dir`, else `<mirror>/keys`). */
export function openMirror(
  dir: string,
  keyDir: string | undefined,
  env: Record<string, string | undefined> = process.env,
): { storage: Storage; keys: KeyLocation } {
  const storage = openWritableStorage(dir, { env });
  const keys = keyDir ? { storage: new LocalStorage(keyDir), prefix: "" } : {
    storage,
    prefix: "keys/",
  };
  return { storage, keys };
}

/**
 * How a writer waits for another one's lock or lease: as long as `--lock-wait` says (`lockWait`;
 * default the writer's 2 minutes), saying so once.
 */
export function lockReporting(
  out: Output,
  lockWait: string | undefined,
): { lock: Omit<MirrorLockOptions, "now"> } {
  const waitMs = lockWait === undefined
    ? undefined
    : lockWait.trim() === "0"
    ? 0
    : parseDuration(lockWait, "--lock-wait", "flags");
  return {
    lock: { onWait: (message) => out.info(message), ...(waitMs !== undefined ? { waitMs } : {}) },
  };
}

/** The default private key: `$FERRY_HOME/keys/private.json` (TiUP: ~/.tiup/keys/private.json). */
export function defaultKeyPath(env: Record<string, string | undefined>): string {
  return nodePath.join(ferryHome(env), "keys", "private.json");
}

/** Loads the signing key named by `-k` (`keyFlag`), or the default one, with a hint when it is missing. */
export async function loadOwnerKey(
  keyFlag: string | undefined,
  env: Record<string, string | undefined>,
): Promise<SigningKey> {
  const path = keyFlag ?? defaultKeyPath(env);
  try {
    return await loadSigningKey(path);
  } catch (error) {
    if (keyFlag === undefined && /ENOENT/.test((error as Error).message)) {
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

/** Parses the day count `text` of `--<name>`: a whole number from 1 (0 would sign an expired manifest). */
export function parseDaysFlag(name: string, text: string | undefined): number | undefined {
  return parseIntegerFlag(name, text, { min: 1, max: MAX_EXPIRY_DAYS, unit: "days" });
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
