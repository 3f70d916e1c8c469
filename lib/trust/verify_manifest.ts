import { ExpiredError } from "../errors.ts";
import type { SignedBase, Unverified, Verified } from "../format/manifest_types.ts";
import { parseRfc3339 } from "../format/rfc3339.ts";
import { type TrustedKeys, verifySignatures } from "../format/verify_signatures.ts";

/** The manifest that declared a set of keys: its expiry is the keys' expiry. */
export interface KeyDeclaration {
  /** "root" for the four top-level roles, "index" for component owners. */
  role: "root" | "index";
  /** Its file name, for messages ("root.json", "3.index.json"). */
  file: string;
  version: number;
  expires: string;
}

/** Options for {@linkcode verifyManifest}. */
export interface VerifyManifestOptions {
  /** The file name used in messages ("timestamp.json"). */
  file: string;
  /** The role's (or owner's) trusted keys and threshold. */
  trusted: TrustedKeys;
  /**
   * The manifest that declared `trusted`. Its expiry is checked as the keys' expiry (TiUP
   * KeyStore); omit it only for a root verifying itself, whose expiry TiUP does not check.
   */
  declaredBy?: KeyDeclaration;
  now: Date;
  /**
   * Only for audits that list every problem (`ferry mirror verify`): expiry problems are handed
   * here instead of thrown, and the manifest is returned as verified when its signatures are
   * good. A client installing software must not pass this.
   */
  onExpired?: (error: ExpiredError) => void;
}

/**
 * The pure verification step for one manifest (TIUP-FORMAT.md §4): checks its signatures over
 * the raw `signed` bytes with the trusted keys and threshold (duplicate key IDs, bad signatures
 * from listed keys and too few valid ones are SignatureErrors), then that the manifest which
 * declared those keys has not expired, then that the manifest itself has not expired
 * (`expires < now` means expired). Returns the same manifest branded Verified.
 *
 * The key-expiry error names its real cause, unlike TiUP (issue #1436):
 * `Cannot trust "timestamp.json": the root that lists its keys expired on 2026-07-26 (root.json v6)`.
 *
 * @example
 * ```ts
 * const verified = verifyManifest(decoded, {
 *   file: "timestamp.json",
 *   trusted: root.signed.roles.timestamp,
 *   declaredBy: { role: "root", file: "root.json", version: 6, expires: root.signed.expires },
 *   now: new Date(),
 * });
 * ```
 */
export function verifyManifest<T extends SignedBase>(
  manifest: Unverified<T>,
  options: VerifyManifestOptions,
): Verified<T> {
  const { file, now } = options;
  verifySignatures(manifest.signedBytes, manifest.signatures, options.trusted, file);
  const report = options.onExpired ?? ((error: ExpiredError) => {
    throw error;
  });
  const declaredBy = options.declaredBy;
  if (declaredBy && isExpired(declaredBy.expires, now)) {
    report(
      new ExpiredError(
        `Cannot trust "${file}": the ${declaredBy.role} that lists its keys expired on ${
          day(declaredBy.expires)
        } (${declaredBy.file} v${declaredBy.version}); the mirror owner must ${
          declaredBy.role === "root"
            ? `publish a newer root (${declaredBy.version + 1}.root.json)`
            : "re-sign the index"
        }`,
      ),
    );
  }
  if (isExpired(manifest.signed.expires, now)) {
    report(
      new ExpiredError(
        `"${file}" expired on ${
          day(manifest.signed.expires)
        } (v${manifest.signed.version}); the mirror owner must re-sign it`,
      ),
    );
  }
  return manifest as unknown as Verified<T>;
}

/** TIUP-FORMAT.md §1.2: a manifest is expired when `expires < now`. */
function isExpired(expires: string, now: Date): boolean {
  return parseRfc3339(expires).getTime() < now.getTime();
}

/** The date as written in the manifest (its own offset), as users read it in the file. */
function day(expires: string): string {
  return expires.slice(0, 10);
}
