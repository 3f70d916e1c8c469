import { NotFoundError, UsageError, VerificationError } from "../errors.ts";
import { verifyingStream } from "../mirror/clone/verifying_stream.ts";
import { acquireMirrorLock } from "../writer/mirror_lock.ts";
import { bodyStream, readBytes } from "../storage/read_bytes.ts";
import type { Storage, StorageReader } from "../storage/storage.ts";
import { trustedInventoryKeys } from "./bundle_keys.ts";
import { contentOf } from "./diff_bundle.ts";
import { INVENTORY_PATH, MAX_INVENTORY_BYTES } from "./inventory.ts";
import { blobPath } from "./layout_files.ts";
import { readBundleInventory } from "./read_bundle_inventory.ts";
import { verifyInventory } from "./verify_inventory.ts";
import { writeBundleIndex } from "./_write_bundle_index.ts";

/** What {@linkcode loadBundle} did. */
export interface LoadReport {
  /** Manifests and blobs copied in from the delta, each verified. */
  files: number;
  bytes: number;
  version: number;
}

/**
 * Merges a delta (from `diffBundle`) into the bundle in `target`, the far side's copy:
 *
 * - the delta's inventory must verify with `target`'s own root (index keys, threshold, expiry)
 *   and may not be older than the inventory `target` has (RollbackError);
 * - every manifest and blob it lists must be in `target` already (by size) or in the delta,
 *   and what comes from the delta is verified against its digest while it is copied, and
 *   appears only when it matched;
 * - only then are `index.json` and the inventory replaced: a delta that is tampered with or
 *   incomplete leaves `target` serving what it served before.
 */
export async function loadBundle(
  delta: StorageReader,
  target: Storage,
  options: { now?: Date } = {},
): Promise<LoadReport> {
  const now = options.now ?? new Date();
  const lock = await acquireMirrorLock(target, { now });
  try {
    const trusted = await trustedInventoryKeys(target, { now });
    const current = await readBundleInventory(target, { now });
    const bytes = await readBytes(delta, INVENTORY_PATH, { maxBytes: MAX_INVENTORY_BYTES })
      .catch((error) => {
        if (!(error instanceof NotFoundError)) throw error;
        throw new UsageError(`Cannot load "${delta.location}": it has no ${INVENTORY_PATH}`);
      });
    const inventory = verifyInventory(bytes, trusted, {
      now,
      file: `${delta.location}/${INVENTORY_PATH}`,
      notBelow: current?.version ?? 0,
    });
    let files = 0;
    let copied = 0;
    for (const [digest, size] of contentOf(inventory)) {
      const path = blobPath(digest);
      const have = await target.stat(path).catch(() => undefined);
      if (have?.size === size) continue;
      const object = await delta.read(path).catch((error) => {
        if (!(error instanceof NotFoundError)) throw error;
        throw new VerificationError(
          `Cannot load "${delta.location}": it lacks ${digest}, which "${target.location}" ` +
            "does not have either (a delta made against another inventory?)",
        );
      });
      const verifier = verifyingStream([{ length: size, sha256: digest.slice(7) }], path);
      await target.write(path, bodyStream(object).pipeThrough(verifier.stream), {
        deferSync: true,
      });
      await verifier.digest;
      files++;
      copied += size;
    }
    await writeBundleIndex(target, inventory, bytes);
    return { files, bytes: copied, version: inventory.version };
  } finally {
    await lock.release();
  }
}
