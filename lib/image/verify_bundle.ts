import { createHash } from "node:crypto";
import type { ProgressEvent } from "../progress_events.ts";
import {
  ExpiredError,
  HashMismatchError,
  LengthMismatchError,
  NotFoundError,
  SignatureError,
  VerificationError,
} from "../errors.ts";
import { forEachLimited } from "../for_each_limited.ts";
import { hashStream } from "../format/hash.ts";
import { bodyStream, readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { trustedInventoryKeys } from "./bundle_keys.ts";
import { type Inventory, INVENTORY_PATH, MAX_INVENTORY_BYTES } from "./inventory.ts";
import { blobPath, LAYOUT_INDEX_PATH, layoutIndexBytes } from "./layout_files.ts";
import { manifestRefs } from "./manifest_refs.ts";
import { MAX_MANIFEST_BYTES } from "./fetch_manifest.ts";
import { verifyInventory } from "./verify_inventory.ts";

/** What kind of problem a bundle file has, for scripts reading `--json`. */
export type BundleProblemKind =
  | "signature"
  | "expired"
  | "hash"
  | "length"
  | "missing"
  | "format"
  | "verification"
  | "error";

/** One problem, in one file of the bundle. */
export interface BundleProblem {
  file: string;
  kind: BundleProblemKind;
  message: string;
}

/** What {@linkcode verifyBundle} found. */
export interface BundleReport {
  ok: boolean;
  problems: BundleProblem[];
  inventoryVersion?: number;
  counts: { images: number; manifests: number; blobs: number; bytes: number };
}

/** Options for {@linkcode verifyBundle}. */
export interface VerifyBundleOptions {
  now?: Date;
  /** Blobs hashed at once (default 4). */
  jobs?: number;
  /** Where the inventory is (default images.json; a delta's is the same). */
  inventoryFile?: string;
  /** Also check the layout's index.json against the inventory (default true). */
  checkLayoutIndex?: boolean;
  /** A root.json to trust (got out of band) instead of the bundle's own. */
  root?: Uint8Array;
  /** Only these digests must be present (a delta carries part of the content). */
  only?: ReadonlySet<string>;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * Checks a bundle offline, as the far side must before trusting it: the root chain from the
 * bundle's own root.json, the inventory's signatures (index keys) and expiry, the layout's
 * index.json against the inventory (so no tag can be pointed elsewhere), then every manifest and
 * every blob the inventory lists: present, of its size, hashing to its digest, and every
 * manifest naming only content the inventory lists. Lists every problem, not just the first.
 */
export async function verifyBundle(
  storage: StorageReader,
  options: VerifyBundleOptions = {},
): Promise<BundleReport> {
  const now = options.now ?? new Date();
  const problems: BundleProblem[] = [];
  const counts = { images: 0, manifests: 0, blobs: 0, bytes: 0 };
  const file = options.inventoryFile ?? INVENTORY_PATH;
  let inventory: Inventory;
  try {
    const trusted = await trustedInventoryKeys(storage, {
      now,
      ...(options.root ? { root: options.root } : {}),
    });
    const bytes = await readBytes(storage, file, { maxBytes: MAX_INVENTORY_BYTES });
    inventory = verifyInventory(bytes, trusted, { now, file });
  } catch (error) {
    problems.push(problemOf(file, error));
    return { ok: false, problems, counts };
  }
  counts.images = Object.values(inventory.repositories)
    .reduce((n, r) => n + Object.keys(r.tags).length, 0);
  if (options.checkLayoutIndex ?? true) {
    try {
      const actual = await readBytes(storage, LAYOUT_INDEX_PATH, { maxBytes: MAX_INVENTORY_BYTES });
      if (!sameBytes(actual, layoutIndexBytes(inventory))) {
        problems.push({
          file: LAYOUT_INDEX_PATH,
          kind: "verification",
          message:
            `"${LAYOUT_INDEX_PATH}" does not match the signed inventory (edited or tampered?)`,
        });
      }
    } catch (error) {
      problems.push(problemOf(LAYOUT_INDEX_PATH, error));
    }
  }
  const wanted = (digest: string) => !options.only || options.only.has(digest);
  const manifests = Object.entries(inventory.manifests).filter(([d]) => wanted(d));
  const blobs = Object.entries(inventory.blobs).filter(([d]) => wanted(d));
  const total = manifests.reduce((n, [, m]) => n + m.size, 0) +
    blobs.reduce((n, [, s]) => n + s, 0);
  let filesDone = 0;
  const tick = (path: string) =>
    options.onProgress?.({
      filesDone: ++filesDone,
      filesTotal: manifests.length + blobs.length,
      bytesDone: counts.bytes,
      bytesTotal: total,
      current: path,
    });
  for (const [digest, entry] of manifests) {
    const path = blobPath(digest);
    try {
      const bytes = await readBytes(storage, path, { maxBytes: MAX_MANIFEST_BYTES });
      checkContent(path, digest, entry.size, bytes.length, hex(bytes));
      const refs = manifestRefs(bytes, entry.mediaType);
      for (const blob of refs.blobs) {
        if (inventory.blobs[blob.digest] !== blob.size) {
          throw new VerificationError(
            `"${path}" names blob ${blob.digest} that the inventory does not list`,
          );
        }
      }
      counts.manifests++;
      counts.bytes += bytes.length;
    } catch (error) {
      problems.push(problemOf(path, error));
    }
    tick(path);
  }
  await forEachLimited(blobs, options.jobs ?? 4, async ([digest, size]) => {
    const path = blobPath(digest);
    try {
      const object = await storage.read(path);
      const hashed = await hashStream(bodyStream(object));
      checkContent(path, digest, size, hashed.length, hashed.sha256);
      counts.blobs++;
      counts.bytes += hashed.length;
    } catch (error) {
      problems.push(problemOf(path, error));
    }
    tick(path);
  }, options.signal ? { signal: options.signal } : {});
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { ok: problems.length === 0, problems, inventoryVersion: inventory.version, counts };
}

function checkContent(path: string, digest: string, size: number, length: number, sha256: string) {
  if (length !== size) {
    throw new LengthMismatchError(`"${path}" is ${length} bytes, the inventory says ${size}`);
  }
  if (`sha256:${sha256}` !== digest) {
    throw new HashMismatchError(`"${path}" hashes to sha256:${sha256}, not its name (tampered?)`);
  }
}

function hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function problemOf(file: string, error: unknown): BundleProblem {
  const message = (error as Error)?.message ?? String(error);
  const kind: BundleProblemKind = error instanceof SignatureError
    ? "signature"
    : error instanceof ExpiredError
    ? "expired"
    : error instanceof HashMismatchError
    ? "hash"
    : error instanceof LengthMismatchError
    ? "length"
    : error instanceof NotFoundError
    ? "missing"
    : error instanceof SyntaxError
    ? "format"
    : error instanceof VerificationError
    ? "verification"
    : "error";
  return { file, kind, message };
}
