/**
 * cloneMirror() and cloneIntoDirectory() as the clone tests call them: a new clone's seven keys
 * (three root, three roles, its owner) come from the pool of test-only keys (tests/_keys.ts)
 * unless a test passes its own `generateKey`. Generating them took about 1.7 s per clone under
 * Deno, most of the clone tests' time.
 *
 * @module
 */
import {
  cloneIntoDirectory as cloneIntoDirectoryWithNewKeys,
  type DirectoryCloneReport,
} from "../../../lib/mirror/clone/clone_into_directory.ts";
import {
  cloneMirror as cloneMirrorWithNewKeys,
  type CloneOptions,
  type CloneReport,
} from "../../../lib/mirror/clone/clone_mirror.ts";
import type { Storage, StorageReader } from "../../../lib/storage/storage.ts";
import { takeTestKey } from "../../_keys.ts";

/** {@linkcode cloneMirrorWithNewKeys} with keys from the test pool. */
export function cloneMirror(
  source: StorageReader,
  target: Storage,
  options: CloneOptions = {},
): Promise<CloneReport> {
  return cloneMirrorWithNewKeys(source, target, { generateKey: takeTestKey, ...options });
}

/** {@linkcode cloneIntoDirectoryWithNewKeys} with keys from the test pool. */
export function cloneIntoDirectory(
  source: StorageReader,
  directory: string,
  options: CloneOptions = {},
): Promise<DirectoryCloneReport> {
  return cloneIntoDirectoryWithNewKeys(source, directory, { generateKey: takeTestKey, ...options });
}
