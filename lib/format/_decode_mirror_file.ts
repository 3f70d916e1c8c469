/**
 * decodeManifest for files the writer reads from a mirror (folder-private): unparseable bytes
 * become a ManifestFormatError like every other malformed manifest, so a damaged mirror is a
 * verification failure (exit 3) naming the file, not a generic error.
 *
 * @module
 */
import { ManifestFormatError } from "../errors.ts";
import { type DecodedManifest, decodeManifest, type ManifestTypes } from "./decode_manifest.ts";
import type { ManifestType } from "./manifest_types.ts";

/** See the module doc. */
export function decodeMirrorFile<K extends ManifestType>(
  bytes: Uint8Array,
  type: K,
  file: string,
): DecodedManifest<ManifestTypes[K]> {
  try {
    return decodeManifest(bytes, type, file);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new ManifestFormatError(error.message, { cause: error });
    }
    throw error;
  }
}
