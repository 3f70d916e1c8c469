import { extendExpiry } from "../format/extend_expiry.ts";
import { hashBytes } from "../format/hash.ts";
import type { TimestampManifest } from "../format/manifest_types.ts";
import { SPEC_VERSION } from "../format/manifest_types.ts";
import { DEFAULT_EXPIRY_DAYS } from "../format/repo_defaults.ts";

/** Options for {@linkcode buildTimestamp}. */
export interface BuildTimestampOptions {
  now: Date;
  /** Days of life from now (default 30); an expiry already later is kept. */
  days?: number;
}

/**
 * The next timestamp (pure): exactly one meta entry, `/snapshot.json`, with the sha256 and sha512
 * and exact length of the snapshot bytes that will be written; version + 1 (1 when there is no
 * current timestamp); expiry extended per TiUP's RenewManifest rule.
 */
export function buildTimestamp(
  current: TimestampManifest | undefined,
  snapshotBytes: Uint8Array,
  options: BuildTimestampOptions,
): TimestampManifest {
  const days = options.days ?? DEFAULT_EXPIRY_DAYS.timestamp;
  return {
    _type: "timestamp",
    expires: extendExpiry(current?.expires, options.now, days),
    meta: {
      "/snapshot.json": { hashes: { ...hashBytes(snapshotBytes) }, length: snapshotBytes.length },
    },
    spec_version: SPEC_VERSION,
    version: (current?.version ?? 0) + 1,
  };
}
