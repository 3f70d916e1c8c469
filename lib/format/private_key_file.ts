import type { SigningKey } from "./key_info.ts";
import { KEY_SCHEME, KEY_TYPE } from "./key_info.ts";

/**
 * Renders a key's private key file exactly as TiUP writes it (TIUP-FORMAT.md §3.1): Go
 * encoding/json of `{"keytype","keyval":{"private"},"scheme"}` plus a newline, the PEM holding
 * PKCS#1 DER under a "PRIVATE KEY" label in 64-character lines. Write it with mode 0600.
 */
export function privateKeyFileText(key: SigningKey): string {
  const der = key.privateKey.export({ type: "pkcs1", format: "der" });
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  const pem = `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
  return `${JSON.stringify({ keytype: KEY_TYPE, keyval: { private: pem }, scheme: KEY_SCHEME })}\n`;
}
