import { NotFoundError } from "../errors.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { MAX_ROOT_BYTES } from "../format/repo_defaults.ts";
import type { TrustedMetadataSet } from "./trusted_set.ts";

/** Options for {@linkcode walkRootChain}. */
export interface WalkRootChainOptions {
  /**
   * Called with each root once the set trusts it, e.g. to cache it (the updater keeps the raw
   * bytes as `N.root.json` and `root.json`).
   */
  onTrusted?: (file: string, bytes: Uint8Array) => void | Promise<void>;
}

/**
 * The one root walk (TUF 5.3, TIUP-FORMAT.md §5.3), used by the client updater, `mirror verify`
 * and the writer's state loader alike: reads `N+1.root.json`, `N+2.root.json`, … (1 MiB cap
 * each) from `mirror` and hands each to {@linkcode TrustedMetadataSet.updateRoot}, which applies
 * every rule (both thresholds, validity, version N+1, no earlier expiry). Only NotFoundError
 * ends the walk; any other read error, and any root that fails, is thrown as it is and leaves
 * `set` at the last root it trusted. Then the newest root must not be expired
 * ({@linkcode TrustedMetadataSet.checkRootFresh}; reported, not thrown, in the set's
 * expired-tolerant mode).
 *
 * @example
 * ```ts
 * const set = new TrustedMetadataSet(anchorBytes);
 * await walkRootChain(set, openStorage("https://mirror.example"));
 * set.root.signed.version; // the newest root the mirror publishes
 * ```
 */
export async function walkRootChain(
  set: TrustedMetadataSet,
  mirror: StorageReader,
  options: WalkRootChainOptions = {},
): Promise<void> {
  while (true) {
    const file = `${set.root.signed.version + 1}.root.json`;
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(mirror, file, { maxBytes: MAX_ROOT_BYTES });
    } catch (error) {
      if (error instanceof NotFoundError) break;
      throw error;
    }
    set.updateRoot(bytes);
    await options.onTrusted?.(file, bytes);
  }
  set.checkRootFresh();
}
