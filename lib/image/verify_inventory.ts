import { ExpiredError, RollbackError } from "../errors.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { type TrustedKeys, verifySignatures } from "../format/verify_signatures.ts";
import {
  checkInventoryShape,
  decodeInventory,
  type Inventory,
  INVENTORY_PATH,
} from "./inventory.ts";

/** Options for {@linkcode verifyInventory}. */
export interface VerifyInventoryOptions {
  now: Date;
  file?: string;
  /** An inventory older than this version is a rollback (RollbackError). */
  notBelow?: number;
}

/**
 * Decodes an inventory file and checks it the way TiUP checks a manifest: the signatures over
 * the raw `signed` bytes with the bundle's index keys and threshold (SignatureError) before
 * anything else is read from it, then its shape, then the expiry (ExpiredError). Pure: bytes, keys and a clock in, the verified inventory out.
 */
export function verifyInventory(
  bytes: Uint8Array,
  trusted: TrustedKeys,
  options: VerifyInventoryOptions,
): Inventory {
  const file = options.file ?? INVENTORY_PATH;
  const decoded = decodeInventory(bytes, file);
  verifySignatures(decoded.signedBytes, decoded.signatures, trusted, file);
  checkInventoryShape(decoded.signed, file);
  if (parseRfc3339(decoded.signed.expires).getTime() < options.now.getTime()) {
    throw new ExpiredError(
      `"${file}" expired on ${decoded.signed.expires.slice(0, 10)} ` +
        `(v${decoded.signed.version}); save into the bundle again to re-sign it`,
    );
  }
  const notBelow = options.notBelow ?? 0;
  if (decoded.signed.version < notBelow) {
    throw new RollbackError(
      `Cannot accept "${file}" v${decoded.signed.version}: the bundle already has v${notBelow} ` +
        "(an older inventory replayed?)",
    );
  }
  return decoded.signed;
}
