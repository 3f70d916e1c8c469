import { constants, sign } from "node:crypto";
import { canonicalBytes } from "./canonical_json.ts";
import type { SigningKey } from "./key_info.ts";

/** One entry of a manifest's `signatures` array. */
export interface Signature {
  keyid: string;
  /** Standard base64 with padding. */
  sig: string;
}

/**
 * Signs bytes the way TiUP does: RSASSA-PSS, SHA-256, MGF1-SHA-256, with the maximum salt
 * length (222 bytes for a 2048-bit key — Go's PSSSaltLengthAuto when signing, TIUP-FORMAT.md §4).
 */
export function signBytes(key: SigningKey, bytes: Uint8Array): Signature {
  const signature = sign("sha256", bytes, {
    key: key.privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN,
  });
  return { keyid: key.id, sig: signature.toString("base64") };
}

/**
 * Signs the canonical JSON of a manifest's `signed` object with each key, in order. The bytes
 * signed are exactly the bytes a canonical writer stores, so the file verifies over its raw span.
 */
export function signManifest(signed: unknown, keys: SigningKey[]): Signature[] {
  const bytes = canonicalBytes(signed);
  return keys.map((key) => signBytes(key, bytes));
}
