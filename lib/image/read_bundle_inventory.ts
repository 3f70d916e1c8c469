import { NotFoundError } from "../errors.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { trustedInventoryKeys } from "./bundle_keys.ts";
import { type Inventory, INVENTORY_PATH, MAX_INVENTORY_BYTES } from "./inventory.ts";
import { verifyInventory } from "./verify_inventory.ts";

/**
 * The verified inventory of the bundle in `storage` (signatures from its own root's index keys,
 * expiry at `now`), or undefined when the bundle has none yet.
 */
export async function readBundleInventory(
  storage: StorageReader,
  options: { now?: Date; file?: string } = {},
): Promise<Inventory | undefined> {
  const now = options.now ?? new Date();
  const file = options.file ?? INVENTORY_PATH;
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(storage, file, { maxBytes: MAX_INVENTORY_BYTES });
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const trusted = await trustedInventoryKeys(storage, { now });
  return verifyInventory(bytes, trusted, { now, file: `${storage.location}/${file}` });
}
