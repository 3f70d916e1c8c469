import * as nodePath from "node:path";
import { decodeManifest } from "../format/decode_manifest.ts";
import { MAX_MANIFEST_BYTES } from "../format/repo_defaults.ts";
import type { ComponentManifest } from "../format/manifest_types.ts";
import { LocalStorage } from "../storage/local_storage.ts";
import { readBytes } from "../storage/read_bytes.ts";
import { MANIFESTS_DIR } from "./set_mirror.ts";

/**
 * The current mirror's component manifest as the profile cached it (`manifests/<name>.json`,
 * stored only after it verified; `mirror set` clears the cache, so it is this mirror's), for
 * decisions made without the mirror: which installed version to run offline, and its entry.
 * Undefined when there is none or it cannot be read: a missing or damaged cache only means
 * less is known.
 *
 * @example
 * ```ts
 * (await readCachedComponent(home, "hello"))?.platforms["linux/amd64"];
 * ```
 */
export async function readCachedComponent(
  home: string,
  name: string,
): Promise<ComponentManifest | undefined> {
  const cache = new LocalStorage(nodePath.join(nodePath.resolve(home), MANIFESTS_DIR));
  try {
    const bytes = await readBytes(cache, `${name}.json`, { maxBytes: MAX_MANIFEST_BYTES });
    return decodeManifest(bytes, "component", `${name}.json`).signed;
  } catch {
    return undefined;
  }
}
