import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { canonicalBytes } from "./canonical_json.ts";

/** The only key type and scheme TiUP accepts (TIUP-FORMAT.md §3). */
export const KEY_TYPE = "rsa";
export const KEY_SCHEME = "rsassa-pss-sha256";

/** A public key as it appears in root and index manifests. */
export interface PublicKeyInfo {
  keytype: typeof KEY_TYPE;
  keyval: { public: string };
  scheme: typeof KEY_SCHEME;
}

/** A private key file's JSON, as TiUP writes it (PKCS#1 DER under a "PRIVATE KEY" label). */
export interface PrivateKeyInfo {
  keytype: typeof KEY_TYPE;
  keyval: { private: string };
  scheme: typeof KEY_SCHEME;
}

/** A key that can sign: its ID, its public KeyInfo and the private key itself. */
export interface SigningKey {
  id: string;
  publicInfo: PublicKeyInfo;
  privateKey: KeyObject;
}

/**
 * The public KeyInfo for a key. The PEM is SPKI with 64-character lines and a trailing
 * newline, which is byte-for-byte what Go's x509.MarshalPKIXPublicKey + pem.Encode produce.
 */
export function publicKeyInfoOf(key: KeyObject): PublicKeyInfo {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const pem = pub.export({ type: "spki", format: "pem" }).toString();
  return { keytype: KEY_TYPE, keyval: { public: pem }, scheme: KEY_SCHEME };
}

/**
 * A key's ID: lowercase hex SHA-256 of the canonical JSON of its public KeyInfo (§3.3).
 *
 * @example
 * ```ts
 * keyId(info); // "520eb67349ebd8020aa5a9825a9aaba7413ef2c4006b36835bb140b088d0bde7"
 * ```
 */
export function keyId(info: PublicKeyInfo): string {
  return createHash("sha256").update(canonicalBytes(info)).digest("hex");
}
