import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import { SignatureError } from "../errors.ts";
import type { PublicKeyInfo } from "./key_info.ts";
import type { Signature } from "./sign_manifest.ts";

/** The keys and threshold a role (or an owner) is trusted with. */
export interface TrustedKeys {
  keys: Record<string, PublicKeyInfo>;
  threshold: number;
}

const keyCache = new Map<string, KeyObject>();

function publicKey(pem: string): KeyObject {
  let key = keyCache.get(pem);
  if (!key) {
    key = createPublicKey(pem);
    if (keyCache.size > 4096) keyCache.clear();
    keyCache.set(pem, key);
  }
  return key;
}

/** True when `sig` is a valid RSASSA-PSS/SHA-256 signature of `bytes` by `info`, any salt length. */
export function isValidSignature(info: PublicKeyInfo, bytes: Uint8Array, sig: string): boolean {
  try {
    return verify("sha256", bytes, {
      key: publicKey(info.keyval.public),
      padding: constants.RSA_PKCS1_PSS_PADDING,
      // TIUP-FORMAT.md §4: Go verifies with auto-detected salt, so any salt length is accepted.
      saltLength: constants.RSA_PSS_SALTLEN_AUTO,
    }, Buffer.from(sig, "base64"));
  } catch {
    return false;
  }
}

/**
 * Applies TiUP's signature-set rules (KeyStore.verifySignature, TIUP-FORMAT.md §4) to the raw
 * bytes of a manifest's `signed` member:
 * - a key ID that signs twice is an error;
 * - signatures from keys the role does not list are ignored;
 * - a signature from a listed key that does not verify is an error;
 * - at least `threshold` listed keys must have signed validly.
 * Returns the IDs of the keys whose signatures verified. Throws SignatureError naming `file`.
 * Key expiry (the declaring manifest's `expires`) is the caller's check.
 */
export function verifySignatures(
  bytes: Uint8Array,
  signatures: Signature[],
  trusted: TrustedKeys,
  file: string,
): string[] {
  if (!Number.isInteger(trusted.threshold) || trusted.threshold < 1) {
    throw new SignatureError(
      `Cannot verify "${file}": its role has an invalid threshold (${trusted.threshold})`,
    );
  }
  const seen = new Set<string>();
  const valid: string[] = [];
  for (const { keyid, sig } of signatures) {
    if (seen.has(keyid)) {
      throw new SignatureError(
        `Cannot verify "${file}": key ${keyid.slice(0, 16)} signed it twice`,
      );
    }
    seen.add(keyid);
    const info = trusted.keys[keyid];
    if (!info) continue;
    if (!isValidSignature(info, bytes, sig)) {
      throw new SignatureError(
        `Cannot verify "${file}": the signature of key ${
          keyid.slice(0, 16)
        } does not match its content (tampered?)`,
      );
    }
    valid.push(keyid);
  }
  if (valid.length < trusted.threshold) {
    throw new SignatureError(
      `Cannot verify "${file}": ${valid.length} of ${trusted.threshold} required signatures are valid`,
    );
  }
  return valid;
}
