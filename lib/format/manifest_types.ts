/**
 * TiUP manifest shapes with exactly the Go field sets (TIUP-FORMAT.md §1.3). No field is
 * optional: the Go client re-serializes its structs when it caches a manifest, so an extra or a
 * missing field breaks the cached copy's signature. Absent maps are `null`, as Go writes nil maps.
 *
 * @module
 */
import type { FileHashes } from "./hash.ts";
import type { PublicKeyInfo } from "./key_info.ts";
import type { Signature } from "./sign_manifest.ts";

/** The only spec_version TiUP accepts. */
export const SPEC_VERSION = "0.1.0";

/** The five manifest roles. */
export type ManifestType = "root" | "index" | "component" | "snapshot" | "timestamp";

/** Fields every `signed` object carries. */
export interface SignedBase {
  _type: ManifestType;
  spec_version: string;
  /** RFC 3339, no fractional seconds when written by ferry or TiUP. */
  expires: string;
  version: number;
}

/** A role's keys, threshold and URL in root.json. */
export interface RoleKeys {
  keys: Record<string, PublicKeyInfo>;
  threshold: number;
  url: string;
}

/** root.json's signed object. */
export interface RootManifest extends SignedBase {
  _type: "root";
  roles: { index: RoleKeys; root: RoleKeys; snapshot: RoleKeys; timestamp: RoleKeys };
}

/** An owner in the index: who may sign which components. */
export interface Owner {
  keys: Record<string, PublicKeyInfo>;
  name: string;
  threshold: number;
}

/** A component's entry in the index. */
export interface ComponentItem {
  hidden: boolean;
  owner: string;
  standalone: boolean;
  url: string;
  yanked: boolean;
}

/** N.index.json's signed object. */
export interface IndexManifest extends SignedBase {
  _type: "index";
  components: Record<string, ComponentItem>;
  default_components: string[] | null;
  owners: Record<string, Owner>;
}

/** One version of a component on one platform. */
export interface VersionItem {
  dependencies: Record<string, string> | null;
  entry: string;
  hashes: FileHashes | Record<string, string>;
  length: number;
  released: string;
  url: string;
  yanked: boolean;
}

/** N.<component>.json's signed object. */
export interface ComponentManifest extends SignedBase {
  _type: "component";
  description: string;
  id: string;
  nightly: string;
  /** "os/arch" → version → item. */
  platforms: Record<string, Record<string, VersionItem>>;
}

/** A file's version and length as the snapshot records it. */
export interface FileVersion {
  length: number;
  version: number;
}

/** snapshot.json's signed object (version is always 0). */
export interface SnapshotManifest extends SignedBase {
  _type: "snapshot";
  meta: Record<string, FileVersion>;
}

/** The timestamp's record of snapshot.json. */
export interface FileHash {
  hashes: Record<string, string>;
  length: number;
}

/** timestamp.json's signed object. */
export interface TimestampManifest extends SignedBase {
  _type: "timestamp";
  meta: Record<string, FileHash>;
}

/** Any role's signed object. */
export type AnyManifest =
  | RootManifest
  | IndexManifest
  | ComponentManifest
  | SnapshotManifest
  | TimestampManifest;

/** A manifest file: the signed object and its signatures. */
export interface Envelope<T extends SignedBase = AnyManifest> {
  signatures: Signature[];
  signed: T;
}

declare const verifiedBrand: unique symbol;
declare const unverifiedBrand: unique symbol;

/**
 * A decoded manifest whose signatures nobody has checked yet. Only the verifier turns it into
 * {@linkcode Verified}; writers and installers accept only Verified manifests.
 */
export type Unverified<T extends SignedBase> = Envelope<T> & {
  /** The raw bytes of the `signed` member, as stored (what signatures cover). */
  readonly signedBytes: Uint8Array;
  /** The whole file's bytes. */
  readonly fileBytes: Uint8Array;
  readonly [unverifiedBrand]: true;
};

/** A manifest whose signatures, threshold and expiry have been checked. */
export type Verified<T extends SignedBase> = Envelope<T> & {
  readonly fileBytes: Uint8Array;
  readonly [verifiedBrand]: true;
};
