import type { RootManifest } from "../format/manifest_types.ts";

/** One role's keys as a user compares them: 16-hex key IDs and the threshold. */
export interface RoleSummary {
  threshold: number;
  /** The first 16 hex digits of each key ID, sorted (TiUP names key files `<id16>-<role>.json`). */
  keyIds: string[];
}

/** What a user needs to check a root.json out of band. */
export interface RootSummary {
  version: number;
  expires: string;
  roles: Record<"root" | "index" | "snapshot" | "timestamp", RoleSummary>;
}

/**
 * Summarizes a root manifest's trust: version, expiry, and per role the threshold and the key
 * fingerprints (first 16 hex digits of each key ID — the prefix of the mirror's key file names,
 * `keys/<id16>-root.json`), so a user can compare them with the mirror owner's before relying on
 * a root trusted on first use.
 *
 * @example
 * ```ts
 * describeRoot(root.signed).roles.root; // { threshold: 3, keyIds: ["1a2b…", …] }
 * ```
 */
export function describeRoot(root: RootManifest): RootSummary {
  const role = (name: keyof RootManifest["roles"]): RoleSummary => ({
    threshold: root.roles[name].threshold,
    keyIds: Object.keys(root.roles[name].keys).map((id) => id.slice(0, 16)).sort(),
  });
  return {
    version: root.version,
    expires: root.expires,
    roles: {
      root: role("root"),
      index: role("index"),
      snapshot: role("snapshot"),
      timestamp: role("timestamp"),
    },
  };
}
