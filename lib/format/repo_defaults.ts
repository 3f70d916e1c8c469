/**
 * The numbers and names the repository writer follows, from TiUP's `ManifestsConfig`
 * (pkg/repository/v1manifest/manifest.go) and `cmd/mirror.go` (TIUP-FORMAT.md §0, §1, §6).
 *
 * @module
 */

/** Default lifetime of each manifest, in days: root and index 1 y, components 5 y, 30 d else. */
export const DEFAULT_EXPIRY_DAYS = {
  root: 365,
  index: 365,
  component: 365 * 5,
  snapshot: 30,
  timestamp: 30,
} as const;

/** Default thresholds `mirror init` writes: 3 root keys, one for each other role. */
export const DEFAULT_THRESHOLDS = { root: 3, index: 1, snapshot: 1, timestamp: 1 } as const;

/** The four top-level roles, in the order TiUP's root lists them. */
export const TOP_LEVEL_ROLES = ["index", "root", "snapshot", "timestamp"] as const;

/** A top-level role. */
export type TopLevelRole = typeof TOP_LEVEL_ROLES[number];

/**
 * Owner IDs that would clobber role keys in the client's key store (`key_store.go` keeps owners
 * and roles in one namespace), so `grant` refuses them.
 */
export const RESERVED_OWNER_IDS: readonly string[] = TOP_LEVEL_ROLES;

/** Platforms `mirror publish` accepts (`validatePlatform` in cmd/mirror.go). */
export const PUBLISH_PLATFORMS: readonly string[] = [
  "linux/amd64",
  "linux/arm64",
  "darwin/amd64",
  "darwin/arm64",
  "any/any",
];

/** The largest timestamp.json a TiUP client accepts (`maxTimeStampSize`). */
export const MAX_TIMESTAMP_BYTES = 1024;

/** The largest N.root.json a TiUP client accepts (`maxRootSize`). */
export const MAX_ROOT_BYTES = 1024 * 1024;

/**
 * Cap for index, component and snapshot manifests when no signed length is known yet (a mirror
 * audit reading snapshot.json without a timestamp, a cache read). Signed lengths win when known.
 */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** TiUP counts any version containing this word as a nightly. */
export const NIGHTLY_MARK = "nightly";

/** Where a mirror keeps the private keys of its roles, relative to the mirror root. */
export const MIRROR_KEYS_PREFIX = "keys/";
