/**
 * Shared setup for the repository writer's tests: keys from the pool of test-only keys
 * (tests/_keys.ts; a 2048-bit RSA key takes up to a second to generate under Deno), a fixed clock, a freshly initialized mirror with an
 * owner, tarball sources, a digest of every stored file (to prove a failed command changed
 * nothing) and an independent client-side check with the verifier's MirrorUpdater.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { hashBytes } from "../../lib/format/hash.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { MirrorUpdater, type RefreshResult } from "../../lib/trust/mirror_updater.ts";
import type { PublishPackage } from "../../lib/writer/plan_publish.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { takeTestKeys } from "../_keys.ts";
import { collectBytes, readBytes } from "../../lib/storage/read_bytes.ts";
import type { ListableStorage, Storage, StorageReader } from "../../lib/storage/storage.ts";

/** The tests' clock: every mirror is created at T0. */
export const T0 = new Date("2026-01-01T00:00:00Z");

/** T0 plus `days` days. */
export function day(days: number): Date {
  return new Date(T0.getTime() + days * 86_400_000);
}

/** The keys a test file uses. */
export interface TestKeys {
  root: SigningKey;
  /** Signs index, snapshot and timestamp. */
  role: SigningKey;
  alice: SigningKey;
  bob: SigningKey;
}

let pool: Promise<TestKeys> | undefined;

/** Four test-only keys, taken on first use and shared by the whole test file. */
export function testKeys(): Promise<TestKeys> {
  if (!pool) {
    const [root, role, alice, bob] = takeTestKeys(4);
    pool = Promise.resolve({ root: root!, role: role!, alice: alice!, bob: bob! });
  }
  return pool;
}

/**
 * A new mirror created at T0 with one root key (threshold 1), one key for the other roles, and
 * owner "alice" granted (unless `owner: false`).
 */
export async function makeMirror(
  options: { storage?: Storage; owner?: boolean } = {},
): Promise<{ storage: Storage; keys: TestKeys }> {
  const keys = await testKeys();
  const storage = options.storage ?? new MemoryStorage("mem://mirror");
  await initRepository(storage, {
    now: T0,
    keys: { root: [keys.root], index: [keys.role], snapshot: [keys.role], timestamp: [keys.role] },
  });
  if (options.owner !== false) {
    await grantOwner(storage, { id: "alice", name: "Alice", key: keys.alice.publicInfo }, {
      now: T0,
    });
  }
  return { storage, keys };
}

/** A tarball source over `text`'s bytes. */
export function tarball(text: string, name?: string): PublishPackage["tarball"] {
  const bytes = new TextEncoder().encode(text);
  return {
    ...hashBytes(bytes),
    length: bytes.length,
    ...(name !== undefined ? { name } : {}),
    open: () =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(bytes.slice());
          controller.close();
        },
      }),
  };
}

/** A publish package for `hello` (override any field). */
export function helloPackage(overrides: Partial<PublishPackage> = {}): PublishPackage {
  return {
    component: "hello",
    version: "v1.0.0",
    platform: "linux/amd64",
    entry: "hello",
    tarball: tarball(`hello ${overrides.version ?? "v1.0.0"} ${overrides.platform ?? ""}`),
    ...overrides,
  };
}

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
