/**
 * Looking at a simulated mirror from outside: a digest of every stored file (to prove a failed
 * command changed nothing), a stored JSON file, and an independent client-side check with the
 * verifier's MirrorUpdater.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { collectBytes, readBytes } from "../../lib/storage/read_bytes.ts";
import type { ListableStorage, StorageReader } from "../../lib/storage/storage.ts";
import { MirrorUpdater, type RefreshResult } from "../../lib/trust/mirror_updater.ts";

/** path → sha256 of every stored object: equal digests mean nothing was added or changed. */
export async function treeDigest(
  storage: StorageReader & ListableStorage,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const file of storage.list("")) {
    const object = await storage.read(file.path);
    out[file.path] = createHash("sha256").update(await collectBytes(object.body)).digest("hex");
  }
  return out;
}

/** A stored JSON file, parsed (tests read nested fields freely). */
// deno-lint-ignore no-explicit-any
export async function readJson(storage: StorageReader, path: string): Promise<any> {
  return JSON.parse(new TextDecoder().decode(await readBytes(storage, path)));
}

/**
 * What a TiUP-style client sees: the verifier's MirrorUpdater, anchored on the mirror's
 * root.json, refreshes at `now` (throws if anything fails to verify or has expired).
 */
export async function clientRefresh(
  storage: StorageReader,
  now: Date,
): Promise<{ result: RefreshResult; updater: MirrorUpdater }> {
  const updater = new MirrorUpdater(storage, {
    trustedRoot: await readBytes(storage, "root.json"),
    now: () => now,
  });
  return { result: await updater.refresh(), updater };
}

/** A fresh directory under the system temp dir, and a function that removes it. */
export async function tempDir(
  label = "ferry-writer",
): Promise<{ dir: string; remove(): Promise<void> }> {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
