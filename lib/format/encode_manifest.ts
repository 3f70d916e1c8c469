import { canonicalBytes } from "./canonical_json.ts";
import type { SigningKey } from "./key_info.ts";
import type { SignedBase } from "./manifest_types.ts";
import { type Signature, signManifest } from "./sign_manifest.ts";

/** Options for {@linkcode encodeManifest}. */
export interface EncodeManifestOptions {
  /** Signatures made elsewhere (by other key holders) to keep, before the new ones. */
  signatures?: Signature[];
}

/**
 * Signs a manifest's `signed` object with each key and renders the whole file as TiUP stores
 * it: canonical JSON of `{"signatures":[…],"signed":{…}}`, no trailing newline (TIUP-FORMAT.md
 * §1.1). The `signed` span in the result is byte-for-byte the canonical bytes that were signed, so
 * the file verifies over its raw span. A key that already signed is not signed twice.
 */
export function encodeManifest(
  signed: SignedBase,
  keys: SigningKey[],
  options: EncodeManifestOptions = {},
): Uint8Array {
  const kept = options.signatures ?? [];
  const fresh = keys.filter((key, i) =>
    !kept.some((s) => s.keyid === key.id) && keys.findIndex((k) => k.id === key.id) === i
  );
  const signatures = [...kept, ...signManifest(signed, fresh)];
  return canonicalBytes({ signatures, signed });
}
