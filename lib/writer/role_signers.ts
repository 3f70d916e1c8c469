import { UsageError } from "../errors.ts";
import type { SigningKey } from "../format/key_info.ts";
import type { RootManifest } from "../format/manifest_types.ts";
import type { RepoKeys } from "./repo_keys.ts";
import type { TopLevelRole } from "../format/repo_defaults.ts";

/**
 * The keys that will sign a role's manifest: every key of the role that was found, or for the
 * timestamp exactly `threshold` of them (each extra 2048-bit signature adds ~370 bytes and
 * timestamp.json must stay ≤ 1024 bytes). Throws UsageError naming the key folder when fewer than
 * `threshold` of the role's private keys are present, since clients would refuse the result.
 */
export function roleSigners(
  keys: RepoKeys,
  root: RootManifest,
  role: TopLevelRole,
  keyFolder: string,
): SigningKey[] {
  const { threshold } = root.roles[role];
  const have = keys[role];
  if (have.length < threshold) {
    const missing = Object.keys(root.roles[role].keys)
      .filter((id) => !have.some((k) => k.id === id))
      .map((id) => id.slice(0, 16));
    throw new UsageError(
      `Cannot sign "${role}.json": ${have.length} of the ${threshold} required ${role} keys ` +
        `are in "${keyFolder}" (missing ${missing.map((m) => `${m}-${role}.json`).join(", ")}); ` +
        `pass the folder that holds them with --key-dir`,
    );
  }
  return role === "timestamp" ? have.slice(0, threshold) : have;
}
