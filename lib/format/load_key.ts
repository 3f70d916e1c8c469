import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.ts";
import {
  KEY_SCHEME,
  KEY_TYPE,
  keyId,
  type PublicKeyInfo,
  publicKeyInfoOf,
  type SigningKey,
} from "./key_info.ts";

/** A key file's contents: a private key (which can sign) or a public one (which can be granted). */
export type LoadedKey =
  | { kind: "private"; key: SigningKey }
  | { kind: "public"; id: string; publicInfo: PublicKeyInfo };

/** Reads a TiUP key file from disk; see {@linkcode parseKeyFile}. */
export async function loadKeyFile(path: string): Promise<LoadedKey> {
  const text = await readFile(path, "utf8").catch((error) => {
    throw new UsageError(`Cannot read the key file "${path}": ${error.code ?? error.message}`);
  });
  return parseKeyFile(text, path);
}

/** Reads a key file that must hold a private key (for signing). */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  const loaded = await loadKeyFile(path);
  if (loaded.kind !== "private") {
    throw new UsageError(`Cannot sign with "${path}": it holds only a public key`);
  }
  return loaded.key;
}

/**
 * Parses a TiUP key file: `{"keytype":"rsa","keyval":{"private"|"public":"<PEM>"},"scheme":…}`.
 * TiUP labels PKCS#1 DER as "PRIVATE KEY" (TIUP-FORMAT.md §3.1), so the label is ignored and
 * PKCS#1 is tried before PKCS#8. Throws UsageError naming the file for anything else.
 */
export function parseKeyFile(text: string, path = "key file"): LoadedKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(
      `Cannot use the key file "${path}": it is not JSON (expected a TiUP key file)`,
    );
  }
  const info = json as {
    keytype?: unknown;
    scheme?: unknown;
    keyval?: { private?: unknown; public?: unknown };
  };
  if (
    typeof info !== "object" || info === null || typeof info.keyval !== "object" ||
    info.keyval === null
  ) {
    throw new UsageError(
      `Cannot use the key file "${path}": it has no "keyval" (expected a TiUP key file)`,
    );
  }
  if (info.keytype !== KEY_TYPE || info.scheme !== KEY_SCHEME) {
    throw new UsageError(
      `Cannot use the key file "${path}": keytype must be "${KEY_TYPE}" and scheme "${KEY_SCHEME}"`,
    );
  }
  const { private: privatePem, public: publicPem } = info.keyval;
  if (typeof privatePem === "string" && privatePem !== "") {
    const privateKey = parsePrivatePem(privatePem, path);
    const publicInfo = publicKeyInfoOf(privateKey);
    return { kind: "private", key: { id: keyId(publicInfo), publicInfo, privateKey } };
  }
  if (typeof publicPem === "string" && publicPem !== "") {
    let key: KeyObject;
    try {
      key = createPublicKey(publicPem);
    } catch {
      throw new UsageError(`Cannot use the key file "${path}": its public key is not a PEM key`);
    }
    if (key.asymmetricKeyType !== "rsa") {
      throw new UsageError(`Cannot use the key file "${path}": it is not an RSA key`);
    }
    const publicInfo = publicKeyInfoOf(key);
    return { kind: "public", id: keyId(publicInfo), publicInfo };
  }
  throw new UsageError(
    `Cannot use the key file "${path}": keyval has neither "private" nor "public"`,
  );
}

function parsePrivatePem(pem: string, path: string): KeyObject {
  const body = pem.replace(/-----(BEGIN|END)[^-]*-----/g, "").replace(/\s+/g, "");
  const der = Buffer.from(body, "base64");
  for (const type of ["pkcs1", "pkcs8"] as const) {
    try {
      const key = createPrivateKey({ key: der, format: "der", type });
      if (key.asymmetricKeyType !== "rsa") break;
      return key;
    } catch {
      // try the next encoding
    }
  }
  throw new UsageError(
    `Cannot use the key file "${path}": its private key is not an RSA key in PKCS#1 or PKCS#8`,
  );
}
