import { randomBytes } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import * as fs from "node:fs/promises";
import { Readable } from "node:stream";
import { hashingStream } from "../../format/hash.ts";

/** A packed tarball's length and hashes. */
export interface PackedDigest {
  sha256: string;
  sha512: string;
  length: number;
}

/** What a cache entry says it was packed from: the binary's identity on disk. */
interface CacheKey {
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * Copies the tarball cached at `cacheFile` (`dist/linux-arm64/ferry.tar.gz`, beside the binary in
 * a release directory) to `into` and returns its digest, when the cache says it was packed from
 * exactly this binary (size, mtime and inode, kept in `<cacheFile>.json`) and its bytes still hash
 * to what the cache recorded. Anything else (no cache, another build, a damaged file) returns
 * undefined and the caller packs: the cache only saves seconds of gzip per platform and clone.
 */
export async function readPackCache(
  cacheFile: string,
  binary: Stats,
  into: string,
): Promise<PackedDigest | undefined> {
  try {
    const entry = JSON.parse(await fs.readFile(`${cacheFile}.json`, "utf8"));
    if (!sameKey(entry, keyOf(binary))) return undefined;
    const stream = Readable.toWeb(createReadStream(cacheFile)) as ReadableStream<Uint8Array>;
    const digest = await writeAndHash(stream, into);
    return digest.sha256 === entry.sha256 && digest.sha512 === entry.sha512 ? digest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps `packed` as the cache for this binary: the tarball, then its `.json`, each written to a
 * temporary name and renamed, so a reader sees a whole entry or none. Best effort: a release
 * directory that is not writable just means the next clone packs again.
 */
export async function writePackCache(
  cacheFile: string,
  binary: Stats,
  packed: string,
  digest: PackedDigest,
): Promise<void> {
  const temp = `${cacheFile}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await fs.rm(`${cacheFile}.json`, { force: true });
    await fs.copyFile(packed, temp);
    await fs.rename(temp, cacheFile);
    await fs.writeFile(temp, JSON.stringify({ ...keyOf(binary), ...digest }));
    await fs.rename(temp, `${cacheFile}.json`);
  } catch {
    await fs.rm(temp, { force: true }).catch(() => {});
  }
}

/** Writes `stream` to `file` (mode 0644), hashing it on the way. */
export async function writeAndHash(
  stream: ReadableStream<Uint8Array>,
  file: string,
): Promise<PackedDigest> {
  const hashing = hashingStream(["sha256", "sha512"]);
  const handle = await fs.open(file, "w", 0o644);
  try {
    for await (const chunk of stream.pipeThrough(hashing.stream)) await handle.write(chunk);
  } finally {
    await handle.close();
  }
  return await hashing.digest;
}

function keyOf(binary: Stats): CacheKey {
  return { size: binary.size, mtimeMs: binary.mtimeMs, ino: binary.ino };
}

function sameKey(entry: Partial<CacheKey> | null, key: CacheKey): boolean {
  return entry?.size === key.size && entry.mtimeMs === key.mtimeMs && entry.ino === key.ino;
}
