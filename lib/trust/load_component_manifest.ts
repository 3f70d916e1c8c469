import {
  LengthMismatchError,
  NotFoundError,
  RollbackError,
  TooLargeError,
  VerificationError,
} from "../errors.ts";
import { readBytes } from "../storage/read_bytes.ts";
import type { StorageReader } from "../storage/storage.ts";
import { decodeMirrorFile } from "../format/_decode_mirror_file.ts";
import type { ComponentManifest } from "../format/manifest_types.ts";
import type { RepositoryState, StateFile } from "./load_verified_state.ts";
import { componentUrl, versionedPath } from "../format/versioned_name.ts";
import { verifyManifest } from "./verify_manifest.ts";

/**
 * Reads and verifies a component's current manifest: the version the snapshot names, within the
 * snapshot's length, signed by a threshold of its index owner's keys, with matching `id` and
 * `version`. Returns undefined when the component is in neither the index nor the snapshot.
 * Throws VerificationError naming the file when they disagree or anything fails to verify.
 */
export async function loadComponentManifest(
  storage: StorageReader,
  state: RepositoryState,
  id: string,
): Promise<StateFile<ComponentManifest> | undefined> {
  const where = (path: string) => `${storage.location.replace(/\/+$/, "")}/${path}`;
  const index = state.index.manifest.signed;
  const item = Object.hasOwn(index.components, id) ? index.components[id] : undefined;
  const entry = state.snapshot.manifest.signed.meta[componentUrl(id)];
  if (!item && !entry) return undefined;
  if (!item || !entry) {
    throw new VerificationError(
      `Cannot use component "${id}": ${
        item
          ? `"${where("snapshot.json")}" does not list it`
          : `"${where(state.index.path)}" does not list it`
      } but ${item ? "the index" : "the snapshot"} does`,
    );
  }
  const owner = Object.hasOwn(index.owners, item.owner) ? index.owners[item.owner] : undefined;
  if (!owner) {
    throw new VerificationError(
      `Cannot use component "${id}": its owner "${item.owner}" is not in "${
        where(state.index.path)
      }"`,
    );
  }
  const path = versionedPath(item.url || componentUrl(id), entry.version);
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(storage, path, { maxBytes: entry.length });
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new VerificationError(
        `Cannot find "${where(path)}": the snapshot names it but the mirror lacks it`,
        { cause: error },
      );
    }
    if (error instanceof TooLargeError) {
      throw new LengthMismatchError(
        `Cannot use "${
          where(path)
        }": it is larger than the ${entry.length} bytes the snapshot says`,
        { cause: error },
      );
    }
    throw error;
  }
  const decoded = decodeMirrorFile(bytes, "component", where(path));
  // Expiry is not fatal here: renew and modify must work on an expired component (#1871).
  const manifest = verifyManifest(decoded, {
    file: where(path),
    trusted: owner,
    now: new Date(0),
    onExpired: () => {},
  });
  if (manifest.signed.version !== entry.version) {
    throw new RollbackError(
      `Cannot use "${
        where(path)
      }": its version is ${manifest.signed.version} but the snapshot says ${entry.version}`,
    );
  }
  if (manifest.signed.id !== id) {
    throw new VerificationError(
      `Cannot use "${where(path)}": its id is "${manifest.signed.id}", expected "${id}"`,
    );
  }
  return { path, manifest };
}
