import { createHash } from "node:crypto";

/** The hashes TiUP records for files. */
export interface FileHashes {
  sha256: string;
  sha512: string;
}

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Hex SHA-256 and SHA-512 of bytes. */
export function hashBytes(bytes: Uint8Array): FileHashes {
  return { sha256: sha256Hex(bytes), sha512: createHash("sha512").update(bytes).digest("hex") };
}

/**
 * Hashes a stream as it is read, without holding it: returns the length and both hashes.
 */
export async function hashStream(
  stream: ReadableStream<Uint8Array>,
): Promise<FileHashes & { length: number }> {
  const sha256 = createHash("sha256");
  const sha512 = createHash("sha512");
  let length = 0;
  const reader = stream.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    sha256.update(value);
    sha512.update(value);
    length += value.length;
  }
  return { length, sha256: sha256.digest("hex"), sha512: sha512.digest("hex") };
}
