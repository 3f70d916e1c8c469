/**
 * The writer-built mirror: made by ferry's own writer operations (init, grant, publish), in
 * memory or in a temporary directory, with real tar.gz tarballs when asked. Writer, clone,
 * merge and server tests build on it; tests that need what the writer refuses to write use the
 * hand-signed mirror (hand_signed_mirror.ts) instead.
 *
 * Keys come from the pool of test-only keys (tests/_keys.ts). By default every mirror a test file
 * makes shares the file's four keys (`testKeys()`), so a test can sign as the mirror's root or
 * owner; `freshKeys` gives a mirror role keys of its own (for two mirrors that must not trust
 * each other).
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { hashBytes } from "../../lib/format/hash.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import type { PublishPackage } from "../../lib/writer/plan_publish.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { takeTestKeys } from "../_keys.ts";
import { T0 } from "./clock.ts";

/** The keys a test file shares. */
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

/** How to build a mirror; every field has a default. */
export interface MirrorOptions {
  /** Where: a MemoryStorage unless given, or a temporary directory with `onDisk`. */
  storage?: Storage;
  onDisk?: boolean;
  /** Grant owner "alice" (default), another key as "alice", or no owner (false). */
  owner?: boolean | SigningKey;
  /** Root keys (threshold: all of them); default 1. */
  rootKeys?: number;
  /** Role keys of this mirror's own instead of the file's shared ones. */
  freshKeys?: boolean;
  /** Keep the writer's commit journal (default true; a clone source needs none). */
  journal?: boolean;
  /** The standard population (see {@linkcode populate}). */
  populate?: boolean;
  /** When the mirror is made (default T0). */
  now?: Date;
}

/** A writer-built mirror and what made it. */
export interface WriterMirror {
  storage: Storage;
  /** The directory, for a mirror on disk (empty string in memory). */
  dir: string;
  keys: TestKeys;
  /** The key that publishes into it (owner "alice"). */
  owner: SigningKey;
  /** Publishes one more build (a tar.gz holding an executable sh script named after `entry`). */
  publish(component: string, version: string, platform: string, options?: {
    entry?: string;
    payload?: Uint8Array;
    now?: Date;
  }): Promise<{ path: string; sha256: string }>;
  /** Removes its directory (nothing to do in memory). */
  remove(): Promise<void>;
}

/** A writer-built mirror on disk (`makeMirror({ onDisk: true })`). */
export interface SourceMirror extends WriterMirror {
  storage: LocalStorage;
}

/**
 * A new mirror made by `initRepository` at `now` (default T0), with owner "alice" granted unless
 * `owner: false`. In memory with the file's shared keys unless the options say otherwise.
 */
export async function makeMirror(options: MirrorOptions = {}): Promise<WriterMirror> {
  const now = options.now ?? T0;
  const shared = await testKeys();
  const dir = options.onDisk ? await mkdtemp(nodePath.join(tmpdir(), "ferry-mirror-")) : "";
  const storage = options.storage ??
    (options.onDisk ? new LocalStorage(dir) : new MemoryStorage("mem://mirror"));
  const [index, snapshot, timestamp, ...roots] = options.freshKeys
    ? takeTestKeys(3 + (options.rootKeys ?? 1))
    : [shared.role, shared.role, shared.role, shared.root];
  const root = [...roots];
  while (root.length < (options.rootKeys ?? 1)) root.push(...takeTestKeys(1));
  const owner = typeof options.owner === "object" ? options.owner : shared.alice;
  const journal = options.journal === false ? { commitLog: false } : {};
  await initRepository(storage, {
    now,
    keys: { root, index: [index!], snapshot: [snapshot!], timestamp: [timestamp!] },
  });
  if (options.owner !== false) {
    await grantOwner(storage, { id: "alice", name: "Alice", key: owner.publicInfo }, {
      now,
      ...journal,
    });
  }
  const mirror: WriterMirror = {
    storage,
    dir,
    keys: { ...shared, root: root[0]!, role: index!, alice: owner },
    owner,
    async publish(component, version, platform, extra = {}) {
      const entry = extra.entry ?? component;
      const bytes = extra.payload ??
        await makeTarball(entry, `${component} ${version} ${platform}`);
      const hashes = hashBytes(bytes);
      const result = await publishComponent(storage, {
        component,
        version,
        platform,
        entry,
        tarball: {
          ...hashes,
          length: bytes.length,
          open: () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
        },
      }, { key: owner, now: extra.now ?? now, ...journal });
      return { path: result.tarballPath, sha256: hashes.sha256 };
    },
    remove: () => dir === "" ? Promise.resolve() : rm(dir, { recursive: true, force: true }),
  };
  if (options.populate) await populate(mirror);
  return mirror;
}

/**
 * A clone or merge source: a mirror on disk with three root keys and role keys of its own,
 * without a commit journal, published into by `options.owner` (default: one pool key shared by
 * every source of the file, so sources can share components).
 */
export async function makeSourceMirror(
  options: { populate?: boolean; owner?: SigningKey; now?: Date } = {},
): Promise<SourceMirror> {
  return await makeMirror({
    onDisk: true,
    rootKeys: 3,
    freshKeys: true,
    journal: false,
    owner: options.owner ?? (sharedSourceOwner ??= takeTestKeys(1)[0]!),
    ...(options.populate !== undefined ? { populate: options.populate } : {}),
    ...(options.now ? { now: options.now } : {}),
  }) as SourceMirror;
}

let sharedSourceOwner: SigningKey | undefined;

/**
 * The standard population: tidb v1.0.0, v1.1.0, v1.2.0 (linux/amd64, linux/arm64, darwin/amd64),
 * pd v1.1.0 and v1.2.0 (linux/amd64), tiup v1.0.0 (linux/amd64), hello-any v0.1.0 (any/any) and
 * ctl v1.3.0-nightly (linux/amd64).
 */
export async function populate(mirror: WriterMirror): Promise<void> {
  for (const version of ["v1.0.0", "v1.1.0", "v1.2.0"]) {
    for (const platform of ["linux/amd64", "linux/arm64", "darwin/amd64"]) {
      await mirror.publish("tidb", version, platform);
    }
  }
  await mirror.publish("pd", "v1.1.0", "linux/amd64");
  await mirror.publish("pd", "v1.2.0", "linux/amd64");
  await mirror.publish("tiup", "v1.0.0", "linux/amd64");
  await mirror.publish("hello-any", "v0.1.0", "any/any");
  await mirror.publish("ctl", "v1.3.0-nightly", "linux/amd64");
}

/** A tar.gz with one executable file `entry` (a sh script printing `message`, plus padding). */
export async function makeTarball(
  entry: string,
  message: string,
  padding = new Uint8Array(),
): Promise<Uint8Array> {
  const work = await mkdtemp(nodePath.join(tmpdir(), "ferry-tarball-"));
  try {
    const script = `#!/bin/sh\necho ${JSON.stringify(message)}\n`;
    const body = new Uint8Array(script.length + padding.length);
    body.set(new TextEncoder().encode(script));
    body.set(padding, script.length);
    await writeFile(nodePath.join(work, entry), body, { mode: 0o755 });
    return await collectBytes(await packTarball([entry], { cwd: work, mtime: T0 }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A tarball source over `text`'s bytes (not a real tar.gz: for writer tests). */
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
