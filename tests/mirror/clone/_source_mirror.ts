/**
 * Builds real source mirrors for clone and merge tests with the writer's own operations
 * (init, grant, publish): several components, versions and platforms, real tar.gz tarballs.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { packTarball } from "../../../lib/archive/pack_tarball.ts";
import { hashBytes } from "../../../lib/format/hash.ts";
import { initRepository } from "../../../lib/writer/init_repository.ts";
import type { SigningKey } from "../../../lib/format/key_info.ts";
import { grantOwner } from "../../../lib/writer/grant_owner.ts";
import { publishComponent } from "../../../lib/writer/publish_component.ts";
import { collectBytes } from "../../../lib/storage/read_bytes.ts";
import { LocalStorage } from "../../../lib/storage/local_storage.ts";
import { takeTestKeys } from "../../_keys.ts";

/** A fixed clock for tests. */
export const NOW = new Date("2026-01-01T00:00:00Z");

/** A source mirror on disk and the owner key that publishes into it. */
export interface SourceMirror {
  dir: string;
  storage: LocalStorage;
  owner: SigningKey;
  /** Publishes one more build (a tar.gz holding an executable sh script named after `entry`). */
  publish(component: string, version: string, platform: string, options?: {
    entry?: string;
    payload?: Uint8Array;
    now?: Date;
  }): Promise<{ path: string; sha256: string }>;
  remove(): Promise<void>;
}

/** Keys are slow to make; tests share this owner key from the pool (tests/_keys.ts). */
let sharedOwner: SigningKey | undefined;

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
    return await collectBytes(await packTarball([entry], { cwd: work, mtime: NOW }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A mirror made by `initRepository` with owner `alice` granted. With `populate`, it holds:
 * tidb v1.0.0, v1.1.0, v1.2.0 (linux/amd64, linux/arm64, darwin/amd64), pd v1.1.0 and v1.2.0
 * (linux/amd64), tiup v1.0.0 (linux/amd64), hello-any v0.1.0 (any/any) and ctl v1.3.0-nightly
 * (linux/amd64).
 */
export async function makeSourceMirror(
  options: { populate?: boolean; owner?: SigningKey; now?: Date } = {},
): Promise<SourceMirror> {
  const now = options.now ?? NOW;
  const dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-source-"));
  const storage = new LocalStorage(dir);
  const owner = options.owner ?? (sharedOwner ??= takeTestKeys(1)[0]!);
  // Role keys from the pool too: the same layout (keys/ holds their files) as generated ones.
  const [root1, root2, root3, index, snapshot, timestamp] = takeTestKeys(6);
  await initRepository(storage, {
    now,
    keys: {
      root: [root1!, root2!, root3!],
      index: [index!],
      snapshot: [snapshot!],
      timestamp: [timestamp!],
    },
  });
  await grantOwner(storage, { id: "alice", key: owner.publicInfo }, { now, commitLog: false });
  const mirror: SourceMirror = {
    dir,
    storage,
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
      }, { key: owner, now: extra.now ?? now, commitLog: false });
      return { path: result.tarballPath, sha256: hashes.sha256 };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  if (options.populate) {
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
  return mirror;
}
