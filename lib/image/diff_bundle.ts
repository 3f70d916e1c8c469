import { UsageError } from "../errors.ts";
import { bodyStream, readBytes } from "../storage/read_bytes.ts";
import { canFlush, type Storage, type StorageReader } from "../storage/storage.ts";
import {
  checkInventoryShape,
  decodeInventory,
  type Inventory,
  INVENTORY_PATH,
  MAX_INVENTORY_BYTES,
} from "./inventory.ts";
import { blobPath } from "./layout_files.ts";
import { readBundleInventory } from "./read_bundle_inventory.ts";

/** What {@linkcode diffBundle} put into the delta. */
export interface DiffReport {
  /** Manifests and blobs copied (the far side lacks them). */
  files: number;
  bytes: number;
  /** The inventory version the delta brings. */
  version: number;
}

/**
 * Writes into `delta` what the far side, whose inventory is `have`, lacks of `bundle`: the
 * bundle's signed inventory as it is (the far side verifies it with its own copy of the root),
 * and every manifest and blob the inventory lists that `have` does not. `have` is only a list
 * of what is there, so it is read without its signature: a wrong one makes the delta too small,
 * which `loadBundle` then refuses.
 */
export async function diffBundle(
  bundle: StorageReader,
  have: Uint8Array,
  delta: Storage,
  options: { now?: Date } = {},
): Promise<DiffReport> {
  const inventory = await readBundleInventory(bundle, options);
  if (!inventory) {
    throw new UsageError(
      `Cannot diff "${bundle.location}": it holds no images (no ${INVENTORY_PATH})`,
    );
  }
  const far = decodeInventory(have, "the --have inventory").signed;
  checkInventoryShape(far, "the --have inventory");
  const present = new Set([...Object.keys(far.manifests), ...Object.keys(far.blobs)]);
  const missing = contentOf(inventory).filter(([digest]) => !present.has(digest));
  let bytes = 0;
  for (const [digest] of missing) {
    const object = await bundle.read(blobPath(digest));
    const stat = await delta.write(blobPath(digest), bodyStream(object), { deferSync: true });
    bytes += stat.size;
  }
  if (canFlush(delta)) await delta.flush();
  const signed = await readBytes(bundle, INVENTORY_PATH, { maxBytes: MAX_INVENTORY_BYTES });
  await delta.write(INVENTORY_PATH, signed);
  return { files: missing.length, bytes: bytes + signed.length, version: inventory.version };
}

/** Every manifest and blob an inventory lists, with its size. */
export function contentOf(inventory: Inventory): Array<[string, number]> {
  return [
    ...Object.entries(inventory.manifests).map(([d, m]) => [d, m.size] as [string, number]),
    ...Object.entries(inventory.blobs),
  ];
}
