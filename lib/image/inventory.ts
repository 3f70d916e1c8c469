/**
 * The signed inventory of an image bundle (`images.json` next to the OCI layout): every image
 * name → digest, every manifest and every blob with its size. It is signed like a TiUP
 * manifest (canonical JSON over `signed`, RSASSA-PSS), by the bundle's index-role keys, so the
 * far side verifies a whole bundle offline from the same root.json that covers its TiUP packages.
 *
 * @module
 */
import { ManifestFormatError } from "../errors.ts";
import { canonicalBytes } from "../format/canonical_json.ts";
import type { SigningKey } from "../format/key_info.ts";
import { type Signature, signManifest } from "../format/sign_manifest.ts";
import { signedSpan } from "../format/signed_span.ts";
import { SHA256_DIGEST } from "./media_types.ts";

/** Where a bundle's inventory lives. */
export const INVENTORY_PATH = "images.json";

/** The `_type` of an inventory. */
export const INVENTORY_TYPE = "ferry-images";

/** Inventories are small (a few hundred bytes per image); refuse anything absurd. */
export const MAX_INVENTORY_BYTES = 64 * 1024 * 1024;

/** One repository: its tags, and every manifest and blob it is allowed to serve. */
export interface InventoryRepository {
  /** Tag → manifest digest. */
  tags: Record<string, string>;
  /** Every manifest digest of this repository (tagged, children, referrers, digest-only saves). */
  manifests: string[];
  /** Every config and layer digest its manifests name. */
  blobs: string[];
}

/** What is known of one stored manifest without reading it. */
export interface InventoryManifest {
  mediaType: string;
  size: number;
  /** OCI 1.1: the manifest it refers to (for the referrers API). */
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** The signed part of an inventory. */
export interface Inventory {
  _type: typeof INVENTORY_TYPE;
  spec_version: "1";
  version: number;
  expires: string;
  /** "REGISTRY/REPOSITORY" → its content. */
  repositories: Record<string, InventoryRepository>;
  /** Manifest digest → type and size. */
  manifests: Record<string, InventoryManifest>;
  /** Config and layer digest → size. */
  blobs: Record<string, number>;
}

/** A decoded inventory file: nobody has checked its signatures yet. */
export interface UnverifiedInventory {
  signed: Inventory;
  signatures: Signature[];
  /** The raw bytes of `signed`, as stored: what the signatures cover. */
  signedBytes: Uint8Array;
}

/** An inventory with no content, version 0: what a save into a fresh bundle starts from. */
export function emptyInventory(expires: string): Inventory {
  return {
    _type: INVENTORY_TYPE,
    spec_version: "1",
    version: 0,
    expires,
    repositories: {},
    manifests: {},
    blobs: {},
  };
}

/** Renders an inventory signed by `keys`: canonical JSON, the signed span as signed. */
export function encodeInventory(inventory: Inventory, keys: SigningKey[]): Uint8Array {
  return canonicalBytes({ signatures: signManifest(inventory, keys), signed: inventory });
}

/**
 * Decodes an inventory file: the envelope, the raw `signed` span and the signed object, with no
 * look at its content yet (signatures first: {@linkcode checkInventoryShape} after them).
 * Throws ManifestFormatError naming `file`.
 */
export function decodeInventory(bytes: Uint8Array, file = INVENTORY_PATH): UnverifiedInventory {
  const bad = (why: string) => new ManifestFormatError(`Cannot use "${file}": ${why}`);
  let parsed: { signed?: unknown; signatures?: unknown };
  let signedBytes: Uint8Array;
  try {
    signedBytes = signedSpan(bytes);
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw bad(`it is not a signed JSON document (${(error as Error).message})`);
  }
  const signatures = parsed.signatures;
  if (
    !Array.isArray(signatures) ||
    !signatures.every((s) => typeof s?.keyid === "string" && typeof s?.sig === "string")
  ) {
    throw bad('"signatures" is not a list of {keyid, sig}');
  }
  return { signed: parsed.signed as Inventory, signatures: signatures as Signature[], signedBytes };
}

/**
 * Checks a (signed) inventory's shape: every digest sha256, every size a safe integer, every
 * repository naming only manifests and blobs the inventory lists. Throws ManifestFormatError.
 */
export function checkInventoryShape(signed: Inventory, file = INVENTORY_PATH): void {
  const bad = (why: string) => new ManifestFormatError(`Cannot use "${file}": ${why}`);
  if (typeof signed !== "object" || signed === null || signed._type !== INVENTORY_TYPE) {
    throw bad(`"_type" is not "${INVENTORY_TYPE}"`);
  }
  if (!Number.isSafeInteger(signed.version) || signed.version < 1) throw bad('bad "version"');
  if (typeof signed.expires !== "string") throw bad('bad "expires"');
  const isSize = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  for (const [digest, size] of Object.entries(signed.blobs ?? {})) {
    if (!SHA256_DIGEST.test(digest) || !isSize(size)) throw bad(`bad blob entry "${digest}"`);
  }
  for (const [digest, m] of Object.entries(signed.manifests ?? {})) {
    if (!SHA256_DIGEST.test(digest) || typeof m?.mediaType !== "string" || !isSize(m.size)) {
      throw bad(`bad manifest entry "${digest}"`);
    }
  }
  for (const [name, repo] of Object.entries(signed.repositories ?? {})) {
    const tags = Object.values(repo?.tags ?? {});
    const ok = Array.isArray(repo?.manifests) && Array.isArray(repo?.blobs) &&
      [...tags, ...repo.manifests].every((d) => signed.manifests?.[d] !== undefined) &&
      repo.blobs.every((d) => signed.blobs?.[d] !== undefined);
    if (!ok) throw bad(`repository "${name}" names content the inventory does not list`);
  }
}
