import { canFlush, type Storage } from "../storage/storage.ts";
import { type Inventory, INVENTORY_PATH } from "./inventory.ts";
import {
  LAYOUT_INDEX_PATH,
  layoutIndexBytes,
  OCI_LAYOUT_PATH,
  OCI_LAYOUT_TEXT,
} from "./layout_files.ts";

/**
 * Makes `inventory` the bundle's content, after every manifest and blob it lists is in place:
 * `oci-layout`, then the layout's `index.json`, then the signed inventory (`inventoryBytes`)
 * last, each written atomically — a reader sees the old bundle or the new one.
 */
export async function writeBundleIndex(
  storage: Storage,
  inventory: Inventory,
  inventoryBytes: Uint8Array,
): Promise<void> {
  if (canFlush(storage)) await storage.flush();
  await storage.write(OCI_LAYOUT_PATH, OCI_LAYOUT_TEXT);
  await storage.write(LAYOUT_INDEX_PATH, layoutIndexBytes(inventory));
  await storage.write(INVENTORY_PATH, inventoryBytes);
}
