import { extendExpiry } from "../format/extend_expiry.ts";
import type { FileVersion, SnapshotManifest } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS } from "../format/repo_defaults.ts";

/** Options for {@linkcode buildSnapshot}. */
export interface BuildSnapshotOptions {
  now: Date;
  /** Days of life from now (default 30); an expiry already later is kept. */
  days?: number;
}

/**
 * The next snapshot (pure): the current `meta` with `updates` applied (keys are unversioned
 * URLs, lengths are the byte sizes of the versioned files), version always 0 ("unversioned", as
 * TiUP writes it), expiry extended per TiUP's RenewManifest rule.
 */
export function buildSnapshot(
  current: SnapshotManifest,
  updates: Record<string, FileVersion>,
  options: BuildSnapshotOptions,
): SnapshotManifest {
  const next = normalizeManifest(current);
  for (const [url, entry] of Object.entries(updates)) {
    next.meta[url] = { length: entry.length, version: entry.version };
  }
  next.version = 0;
  next.expires = extendExpiry(
    current.expires,
    options.now,
    options.days ?? DEFAULT_EXPIRY_DAYS.snapshot,
  );
  return next;
}
