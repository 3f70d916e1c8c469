import { type Clock, systemClock } from "../clock.ts";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { NotFoundError, SignatureError, StorageError } from "../errors.ts";
import { MAX_ROOT_BYTES } from "../format/repo_defaults.ts";
import { TrustedMetadataSet } from "../trust/trusted_set.ts";
import { LocalStorage } from "../storage/local_storage.ts";
import { isRemoteLocation, isS3Location, openStorage } from "../storage/open_storage.ts";
import { readBytes, readBytesIfPresent } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { checkRootFitsMirror } from "./check_root_fits_mirror.ts";
import { describeRoot, type RootSummary } from "./describe_root.ts";
import { normalizeMirrorAddress } from "./normalize_mirror_address.ts";
import { writeProfileConfig } from "./write_profile_config.ts";

/** The profile's trust anchor for the current mirror (TIUP-FORMAT.md §5.6). */
export const BOOTSTRAP_ROOT = "bin/root.json";
/** The profile's verified-manifest cache directory. */
export const MANIFESTS_DIR = "manifests";

/** Options for {@linkcode setMirror}. */
export interface SetMirrorOptions {
  /** An explicit root (`--root FILE|URL`): its bytes and where they came from, for messages. */
  root?: { bytes: Uint8Array; from: string };
  /** Reads `root.json` from the mirror (default: openStorage(address)). Injected in tests. */
  mirror?: StorageReader;
  /** The clock, for the expiry report. Default: the real time. */
  now?: Clock;
  /** Base for a relative directory address (default: the current directory). */
  cwd?: string;
  /** The profile is TiUP's (`isTiupProfile`): the address goes to its tiup.toml. */
  tiupProfile?: boolean;
}

/** Where the trusted root came from. */
export type RootSource = "flag" | "cache" | "mirror";

/** What {@linkcode setMirror} did. */
export interface SetMirrorResult {
  /** The address written to ferry.toml (absolute for a directory). */
  address: string;
  rootSource: RootSource;
  /** The file or URL the root was read from. */
  rootFrom: string;
  root: RootSummary;
  /** True when the root was trusted on first use over plain http (anyone on the path could swap it). */
  insecure: boolean;
  /**
   * True when the root belongs to the mirror but the mirror's metadata (its newest root, or the
   * timestamp, snapshot or index) is past its expiry: clients refuse it until its owner renews.
   */
  expired: boolean;
  /** What expired, as the verifier says it. */
  expiredDetail?: string;
}

/** What to do when the chosen root is another mirror's, by where it came from. */
const WRONG_ROOT_HINTS: Record<RootSource, string> = {
  flag:
    "get this mirror's root.json from its owner, or leave out --root to trust the mirror's own on first use (and check the key IDs printed)",
  cache:
    'it is the copy cached for this address in bin/: if the mirror was re-created, check its new keys with its owner, delete that file and run "ferry mirror set" again',
  mirror: "",
};

/**
 * `ferry mirror set <addr>` (TIUP-FORMAT.md §5.8): picks the root to trust, checks it, and makes
 * it the profile's trust anchor for that mirror.
 *
 * Root choice: `options.root` (`--root`); else, for an http(s) mirror, the copy cached for that
 * exact address at `bin/<sha256(addr)[:16]>.root.json`; else the mirror's own `root.json` —
 * trust on first use, so the caller must show the key fingerprints ({@linkcode RootSummary}).
 *
 * Guarantees:
 * - The root must be a valid root signed by a threshold of its own root keys, and the mirror's
 *   manifests must verify from it ({@linkcode checkRootFitsMirror}: root chain, timestamp,
 *   snapshot, index) before anything is written. A root of another mirror is refused with a
 *   SignatureError that says so; an unreachable mirror with its DownloadError or StorageError;
 *   either way nothing changes.
 * - Then, in this order: `manifests/` is deleted (its manifests belong to the old mirror), the
 *   root is written to `bin/root.json` (atomically), for an http(s) mirror also to its per-address
 *   cache file, and `mirror = "<addr>"` is written to the profile config (other lines kept):
 *   `<home>/ferry.toml`, or TiUP's `<home>/tiup.toml` in a TiUP profile. These are the files
 *   and names TiUP's own `mirror set` writes (pkg/localdata/profile.go ResetMirror), so `tiup`
 *   and `ferry` sharing a profile see the same mirror and trust the same root.
 * - Expired metadata with the right keys is still accepted (TiUP does not check at this point;
 *   only the mirror's owner can renew it); `expired` says so.
 *
 * @example
 * ```ts
 * const result = await setMirror(home, "http://127.0.0.1:8080");
 * result.root.roles.root.keyIds; // show these to the user
 * ```
 */
export async function setMirror(
  home: string,
  address: string,
  options: SetMirrorOptions = {},
): Promise<SetMirrorResult> {
  const now = options.now ?? systemClock;
  const addr = normalizeMirrorAddress(address, options.cwd);
  const remote = isRemoteLocation(addr) || isS3Location(addr);
  const profile = new LocalStorage(home);
  const cacheName = `bin/${createHash("sha256").update(addr).digest("hex").slice(0, 16)}.root.json`;

  let bytes: Uint8Array;
  let rootSource: RootSource;
  let rootFrom: string;
  const mirror = options.mirror ?? openStorage(addr);
  const cached = remote && !options.root
    ? await readBytesIfPresent(profile, cacheName, { maxBytes: MAX_ROOT_BYTES })
    : undefined;
  if (options.root) {
    ({ bytes, from: rootFrom } = options.root);
    rootSource = "flag";
  } else if (cached) {
    bytes = cached;
    rootSource = "cache";
    rootFrom = nodePath.join(profile.location, cacheName);
  } else {
    rootFrom = remote ? `${addr.replace(/\/+$/, "")}/root.json` : nodePath.join(addr, "root.json");
    try {
      bytes = await readBytes(mirror, "root.json", { maxBytes: MAX_ROOT_BYTES });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      // The message says all the NotFoundError would (no cause, so it is not printed twice).
      throw new StorageError(
        `Cannot set the mirror to "${addr}": it has no root.json (is it a TiUP mirror? pass --root FILE to give one)`,
      );
    }
    rootSource = "mirror";
  }

  // The constructor validates the root and checks a threshold of its own root keys.
  const trusted = new TrustedMetadataSet(bytes, { now, rootFile: rootFrom });
  const root = trusted.root.signed;
  // Then the mirror's chain must verify from it, before anything is saved (issue 9: a root of
  // another mirror used to be saved, and only the next "ferry list" failed).
  let fit;
  try {
    fit = await checkRootFitsMirror(mirror, bytes, {
      address: addr,
      rootFrom,
      now,
      wrongRootHint: WRONG_ROOT_HINTS[rootSource],
    });
  } catch (error) {
    // The mirror's own root.json not matching its manifests is a broken mirror, not a wrong
    // choice of root: report what the verifier found.
    if (rootSource === "mirror" && error instanceof SignatureError) throw error.cause;
    throw error;
  }

  await fs.rm(nodePath.join(profile.location, MANIFESTS_DIR), { recursive: true, force: true });
  await profile.write(BOOTSTRAP_ROOT, bytes);
  if (remote && rootSource !== "cache") await profile.write(cacheName, bytes);
  await writeProfileConfig(home, { mirror: addr }, { tiupProfile: options.tiupProfile ?? false });

  return {
    address: addr,
    rootSource,
    rootFrom,
    root: describeRoot(root),
    insecure: rootSource === "mirror" && /^http:/i.test(addr),
    expired: fit.expired !== undefined,
    ...(fit.expired ? { expiredDetail: fit.expired.message } : {}),
  };
}
