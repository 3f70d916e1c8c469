import { VerificationError } from "../errors.ts";
import type { StorageReader } from "../storage/storage.ts";
import type { ComponentManifest } from "../format/manifest_types.ts";
import { readListed, type RepositoryState, type StateFile } from "./load_verified_state.ts";
import { componentUrl } from "../format/versioned_name.ts";

/**
 * Reads and verifies a component's current manifest through the state's trusted set
 * ({@linkcode TrustedMetadataSet.updateComponent}, expired-tolerant like the state): the version
 * the snapshot names, within the snapshot's length, signed by a threshold of its index owner's
 * keys, with matching `id` and `version`. Returns undefined when the component is in neither the
 * index nor the snapshot. Throws VerificationError naming the file when they disagree or anything
 * fails to verify.
 */
export async function loadComponentManifest(
  storage: StorageReader,
  state: RepositoryState,
  id: string,
): Promise<StateFile<ComponentManifest> | undefined> {
  const index = state.index.manifest.signed;
  const listed = Object.hasOwn(index.components, id);
  const entry = state.snapshot.manifest.signed.meta[componentUrl(id)];
  if (!listed && !entry) return undefined;
  if (!listed || !entry) {
    const where = (path: string) => `${storage.location.replace(/\/+$/, "")}/${path}`;
    throw new VerificationError(
      `Cannot use component "${id}": ${
        listed
          ? `"${where("snapshot.json")}" does not list it`
          : `"${where(state.index.path)}" does not list it`
      } but ${listed ? "the index" : "the snapshot"} does`,
    );
  }
  const { path, maxBytes } = state.trusted.componentSource(id);
  const manifest = state.trusted.updateComponent(id, await readListed(storage, path, maxBytes));
  return { path, manifest };
}
