import { UsageError } from "../errors.ts";
import { canonicalBytes } from "./canonical_json.ts";
import type { SigningKey } from "./key_info.ts";
import { type Signature, signBytes } from "./sign_manifest.ts";

/**
 * Adds one signature to a manifest file (`ferry mirror sign`), as TiUP does: the `signed` object
 * is re-canonicalized through a generic JSON value, signed with `key`, and `{keyid, sig}` is
 * appended; the whole file comes back as canonical JSON. Refuses (UsageError naming `file`) a
 * file that is not a `{signatures, signed}` manifest and a key that already signed it.
 */
export function addSignature(bytes: Uint8Array, key: SigningKey, file = "manifest"): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new UsageError(`Cannot sign "${file}": it is not JSON (${(error as Error).message})`);
  }
  const envelope = json as { signatures?: unknown; signed?: unknown };
  if (
    typeof envelope !== "object" || envelope === null || typeof envelope.signed !== "object" ||
    envelope.signed === null || Array.isArray(envelope.signed)
  ) {
    throw new UsageError(`Cannot sign "${file}": it is not a manifest (no "signed" object)`);
  }
  const signatures = envelope.signatures ?? [];
  if (!Array.isArray(signatures)) {
    throw new UsageError(`Cannot sign "${file}": its "signatures" is not an array`);
  }
  if ((signatures as Signature[]).some((s) => s?.keyid === key.id)) {
    throw new UsageError(`Cannot sign "${file}": key ${key.id.slice(0, 16)} has already signed it`);
  }
  const signature = signBytes(key, canonicalBytes(envelope.signed));
  return canonicalBytes({ signatures: [...signatures, signature], signed: envelope.signed });
}
