import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { Readable } from "node:stream";
import { packTarball } from "../../archive/pack_tarball.ts";
import { NotFoundError, UsageError } from "../../errors.ts";
import { bodyStream, readText } from "../../storage/read_bytes.ts";
import type { Storage } from "../../storage/storage.ts";
import { hashStream } from "../../format/hash.ts";
import type { VersionItem } from "../../format/manifest_types.ts";
import { formatRfc3339 } from "../../format/rfc3339.ts";
import { tarballName } from "../../format/versioned_name.ts";
import { BINARY_HEADER_BYTES, binaryPlatform } from "./binary_platform.ts";
import { readPackCache, writeAndHash, writePackCache } from "./self_pack_cache.ts";
import type { VerifiedJournal } from "./verified_journal.ts";

/** Options for {@linkcode packageSelf}. */
export interface PackageSelfOptions {
  /** The component version, TiUP style ("v0.1.0"). */
  version: string;
  os: string;
  arch: string;
  now: Date;
  /** The item the target already lists for this version and platform, if any. */
  previous?: VersionItem | undefined;
  /** The target's journal: a stored tarball it vouches for is not hashed again. */
  journal?: VerifiedJournal;
  /**
   * Where this binary's packed tarball is kept between clones (`dist/linux-arm64/ferry.tar.gz`,
   * see {@linkcode readPackCache}), so a new target gets a copy instead of a fresh gzip.
   */
  packCache?: string;
}

/** The packaged binary: where its tarball is in the target and its VersionItem. */
export interface SelfPackage {
  /** Storage path of the tarball: "ferry-v0.1.0-linux-amd64.tar.gz". */
  path: string;
  item: VersionItem;
  /** False when the target already had exactly this tarball (nothing was written). */
  written: boolean;
  /**
   * False when nothing was gzipped: the target already held this build, or the pack cache beside
   * the binary had it.
   */
  packed: boolean;
}

/** Every entry of the tarball gets this mtime, so the same binary always packs to the same bytes. */
const FIXED_MTIME = new Date("2000-01-01T00:00:00Z");

/**
 * Packs the ferry binary at `binary` as `ferry-<version>-<os>-<arch>.tar.gz` in `target`: one
 * entry, `ferry`, mode 0755, fixed mtime and no owner names, so identical binaries give
 * identical tarballs and a refresh finds nothing changed. When `previous` already describes the
 * tarball, `previous` is kept (its `released` time included); when the target file also holds
 * it, nothing is written, and a small cache per platform, keyed by the binary's path, size and
 * mtime, skips even the packing (seconds of gzip for a 100 MB binary). Throws UsageError when
 * `binary` is not a readable file or is an executable for another platform.
 */
export async function packageSelf(
  target: Storage,
  binary: string,
  options: PackageSelfOptions,
): Promise<SelfPackage> {
  const info = await fs.stat(binary).catch(() => undefined);
  if (!info?.isFile()) {
    throw new UsageError(
      `Cannot package ferry from "${binary}": it is not a file (pass --ferry-binary FILE)`,
    );
  }
  const platform = `${options.os}/${options.arch}`;
  const built = binaryPlatform(await readHead(binary));
  if (built !== undefined && built !== platform) {
    throw new UsageError(
      `Cannot package "${binary}" as ferry for ${platform}: it is an executable for ${built}`,
    );
  }
  const path = tarballName("ferry", options.version, options.os, options.arch);
  const cachePath = `${CACHE_PREFIX}${options.os}-${options.arch}.json`;
  const previous = options.previous;
  const cached = await readCache(target, cachePath);
  if (
    cached && previous && cached.binary === binary && cached.size === info.size &&
    cached.mtime === info.mtime.getTime() && cached.sha256 === previous.hashes.sha256 &&
    await storedSha256(target, path, options.journal) === previous.hashes.sha256
  ) {
    return { path, item: previous, written: false, packed: false };
  }
  const work = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-self-"));
  try {
    const packed = nodePath.join(work, "ferry.tar.gz");
    const cached = options.packCache
      ? await readPackCache(options.packCache, info, packed)
      : undefined;
    let digest = cached;
    if (!digest) {
      const copy = nodePath.join(work, "ferry");
      await fs.copyFile(binary, copy);
      await fs.chmod(copy, 0o755);
      digest = await writeAndHash(
        await packTarball(["ferry"], { cwd: work, mtime: FIXED_MTIME }),
        packed,
      );
      if (options.packCache) await writePackCache(options.packCache, info, packed, digest);
    }
    const stored = await storedSha256(target, path, options.journal);
    if (stored !== digest.sha256) {
      const stat = await target.write(
        path,
        Readable.toWeb(createReadStream(packed)) as ReadableStream<Uint8Array>,
      );
      options.journal?.record(stat, digest.sha256);
    }
    await target.write(
      cachePath,
      JSON.stringify({ binary, size: info.size, mtime: info.mtime.getTime(), ...digest }),
    );
    const unchanged = previous !== undefined && previous.hashes.sha256 === digest.sha256 &&
      previous.length === digest.length;
    return {
      path,
      written: stored !== digest.sha256,
      packed: cached === undefined,
      item: unchanged ? previous : {
        dependencies: null,
        entry: "ferry",
        hashes: { sha256: digest.sha256, sha512: digest.sha512 },
        length: digest.length,
        released: formatRfc3339(options.now),
        url: `/${path}`,
        yanked: false,
      },
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Remembers which binary packed to which tarball, one file per platform, beside the journal. */
const CACHE_PREFIX = ".ferry-staging/self-";

interface CacheEntry {
  binary: string;
  size: number;
  mtime: number;
  sha256: string;
}

async function readCache(target: Storage, path: string): Promise<CacheEntry | undefined> {
  try {
    const value = JSON.parse(await readText(target, path, { maxBytes: 4096 }));
    return typeof value?.sha256 === "string" ? value as CacheEntry : undefined;
  } catch {
    return undefined;
  }
}

async function readHead(file: string): Promise<Uint8Array> {
  const handle = await fs.open(file, "r");
  try {
    const head = new Uint8Array(BINARY_HEADER_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The SHA-256 of the stored tarball: the journal's word while its stat data holds, else hashed
 * (and then recorded in the journal).
 */
async function storedSha256(
  target: Storage,
  path: string,
  journal: VerifiedJournal | undefined,
): Promise<string | undefined> {
  try {
    const stat = await target.stat(path);
    const known = journal?.lookup(stat);
    if (known !== undefined) return known;
    const { sha256 } = await hashStream(bodyStream(await target.read(path)), ["sha256"]);
    // Recorded, so that linking ferry-<os>-<arch>.tar.gz to it needs no second hashing.
    journal?.record(stat, sha256);
    return sha256;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}
