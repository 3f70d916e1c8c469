import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { KEY_SCHEME, KEY_TYPE, keyId, publicKeyInfoOf, type SigningKey } from "./key_info.ts";

/** TiUP's key size (pkg/crypto/rsa.go RSAKeyLength). */
export const RSA_KEY_BITS = 2048;

/** A new key and the text of its private key file. */
export interface GeneratedKey {
  key: SigningKey;
  /** The private key file exactly as TiUP writes it (write it with mode 0600). */
  privateFileText: string;
}

/**
 * Generates an RSA key and renders its private key file the way TiUP does: Go's encoding/json of
 * `{"keytype","keyval":{"private"},"scheme"}` followed by a newline, where the PEM holds PKCS#1
 * DER under a "PRIVATE KEY" label with 64-character lines (TIUP-FORMAT.md §3.1).
 */
export async function generateSigningKey(bits = RSA_KEY_BITS): Promise<GeneratedKey> {
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: bits });
  const der = privateKey.export({ type: "pkcs1", format: "der" });
  const base64 = der.toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  const pem = `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
  const publicInfo = publicKeyInfoOf(privateKey);
  const privateFileText = `${
    JSON.stringify({ keytype: KEY_TYPE, keyval: { private: pem }, scheme: KEY_SCHEME })
  }\n`;
  return { key: { id: keyId(publicInfo), publicInfo, privateKey }, privateFileText };
}
