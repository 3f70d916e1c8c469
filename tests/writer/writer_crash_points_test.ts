/**
 * Crash safety of every writer: each writer runs against a CrashingStorage that kills it after
 * its 1st, 2nd, … storage operation, every one in turn until the writer completes; after each
 * kill, the next writer run (renew, or init again after an init) must succeed, the mirror must
 * verify, and no published version may be lost (the interrupted one is all there or not at all).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { describe, test } from "node:test";
import { StorageError, UsageError } from "../../lib/errors.ts";
import { addSignature } from "../../lib/format/add_signature.ts";
import { JOURNAL_PATH } from "../../lib/writer/commit_journal.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import { loadComponentManifest } from "../../lib/trust/load_component_manifest.ts";
import { mergeMirror } from "../../lib/mirror/merge/merge_mirror.ts";
import { modifyComponent } from "../../lib/writer/modify_component.ts";
import { prepareRootRotation } from "../../lib/writer/prepare_root_rotation.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { renewComponent } from "../../lib/writer/renew_component.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { rotateRoot } from "../../lib/writer/rotate_root.ts";
import { verifyMirror } from "../../lib/mirror/verify_mirror.ts";
import { takeTestKeys } from "../_keys.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type { Storage, StorageReader } from "../../lib/storage/storage.ts";
import {
  copyStorage,
  CrashingStorage,
  type LockTable,
  SimulatedCrash,
} from "./_crashing_storage.ts";
import { cloneMirror } from "../mirror/clone/_clone_with_test_keys.ts";
import { day, helloPackage, makeMirror, T0, tempDir, testKeys } from "../_simulator.ts";

const TIMEOUT = { timeout: 300_000 };
const CRASH_AT = day(1);
const NEXT_AT = day(2);

/** "component version platform" of every non-yanked build the verified mirror lists. */
async function publishedBuilds(storage: StorageReader, now: Date): Promise<Set<string>> {
  const state = await loadRepositoryState(storage, { now });
  const builds = new Set<string>();
  for (const id of Object.keys(state.index.manifest.signed.components)) {
    const loaded = await loadComponentManifest(storage, state, id);
    for (const [platform, versions] of Object.entries(loaded?.manifest.signed.platforms ?? {})) {
      for (const [version, item] of Object.entries(versions)) {
        if (!item.yanked) builds.add(`${id} ${version} ${platform}`);
      }
    }
  }
  return builds;
}

/** A mirror at T0 with owner alice and hello v1.0.0 published. */
async function baseMirror(): Promise<MemoryStorage> {
  const { storage, keys } = await makeMirror();
  await publishComponent(storage, helloPackage(), { key: keys.alice, now: T0 });
  return storage as MemoryStorage;
}

interface Writer {
  name: string;
  /** The mirror before the writer runs (copied for every crash point). */
  prepare(): Promise<MemoryStorage | undefined>;
  run(storage: Storage): Promise<unknown>;
  /** Builds the writer adds. */
  adds: string[];
}

async function writers(): Promise<Writer[]> {
  const keys = await testKeys();
  const roleKeys = {
    root: [keys.root],
    index: [keys.role],
    snapshot: [keys.role],
    timestamp: [keys.role],
  };
  const source = await baseMirror();
  await publishComponent(source, helloPackage({ version: "v2.0.0" }), { key: keys.alice, now: T0 });
  await publishComponent(source, helloPackage({ component: "tidb", version: "v1.0.0" }), {
    key: keys.alice,
    now: T0,
  });
  const cloned = new MemoryStorage("mem://clone");
  const firstSource = await baseMirror();
  await cloneMirror(firstSource, cloned, { full: true, now: T0 });
  const newRootKey = takeTestKeys(1)[0]!;
  const rotation = async () => {
    const storage = await baseMirror();
    const state = await loadRepositoryState(storage);
    const prepared = prepareRootRotation(state.root.manifest.signed, {
      addKeys: [newRootKey.publicInfo],
    }, { now: T0 });
    return { storage, signed: addSignature(prepared.bytes, newRootKey, "new-root.json") };
  };
  const rotated = await rotation();
  return [
    {
      name: "init",
      prepare: () => Promise.resolve(undefined),
      run: (storage) => initRepository(storage, { now: CRASH_AT, keys: roleKeys }),
      adds: [],
    },
    {
      name: "publish",
      prepare: baseMirror,
      run: (storage) =>
        publishComponent(storage, helloPackage({ version: "v1.1.0" }), {
          key: keys.alice,
          now: CRASH_AT,
        }),
      adds: ["hello v1.1.0 linux/amd64"],
    },
    {
      name: "publish (tiup, with its installer copy)",
      prepare: baseMirror,
      run: (storage) =>
        publishComponent(storage, helloPackage({ component: "tiup", version: "v1.0.0" }), {
          key: keys.alice,
          now: CRASH_AT,
        }),
      adds: ["tiup v1.0.0 linux/amd64"],
    },
    {
      name: "modify",
      prepare: baseMirror,
      run: (storage) =>
        modifyComponent(storage, { component: "hello", description: "changed" }, {
          key: keys.alice,
          now: CRASH_AT,
        }),
      adds: [],
    },
    {
      name: "renew",
      prepare: baseMirror,
      run: (storage) =>
        renewComponent(storage, { component: "hello", indexDays: 400 }, {
          key: keys.alice,
          now: CRASH_AT,
        }),
      adds: [],
    },
    {
      name: "grant",
      prepare: baseMirror,
      run: (storage) =>
        grantOwner(storage, { id: "bob", key: keys.bob.publicInfo }, { now: CRASH_AT }),
      adds: [],
    },
    {
      name: "rotate --apply",
      prepare: () => copyStorage(rotated.storage),
      run: (storage) => rotateRoot(storage, rotated.signed, { now: CRASH_AT }),
      adds: [],
    },
    {
      name: "merge",
      prepare: baseMirror,
      run: (storage) =>
        mergeMirror(storage, source, {
          keys: new Map([[keys.alice.id, keys.alice]]),
          now: CRASH_AT,
        }),
      adds: ["hello v2.0.0 linux/amd64", "tidb v1.0.0 linux/amd64"],
    },
    {
      name: "clone refresh",
      prepare: () => copyStorage(cloned),
      run: (storage) => cloneMirror(source, storage, { full: true, now: CRASH_AT }),
      adds: ["hello v2.0.0 linux/amd64", "tidb v1.0.0 linux/amd64"],
    },
  ];
}

/** The next writer after a kill: renew (init again after an interrupted init). */
async function nextWriter(writer: Writer, storage: Storage): Promise<void> {
  if (writer.name === "init") {
    const keys = await testKeys();
    try {
      await initRepository(storage, {
        now: NEXT_AT,
        keys: {
          root: [keys.root],
          index: [keys.role],
          snapshot: [keys.role],
          timestamp: [keys.role],
        },
      });
      return;
    } catch (error) {
      // The killed init had completed: the mirror exists, so init refuses; a renew must work.
      if (!(error instanceof UsageError) || !/not empty/.test(error.message)) throw error;
    }
  }
  await renewComponent(storage, {}, { now: NEXT_AT });
}

describe("every writer survives a kill after any storage operation", () => {
  let all: Writer[] = [];
  test("setup", TIMEOUT, async () => {
    all = await writers();
  });
  for (
    const name of [
      "init",
      "publish",
      "publish (tiup, with its installer copy)",
      "modify",
      "renew",
      "grant",
      "rotate --apply",
      "merge",
      "clone refresh",
    ]
  ) {
    test(
      `${name}: killed after each storage operation, the next writer repairs it`,
      TIMEOUT,
      async () => {
        const writer = all.find((w) => w.name === name)!;
        const prepared = await writer.prepare();
        const before = prepared ? await publishedBuilds(prepared, CRASH_AT) : new Set<string>();
        let completedAt: number | undefined;
        for (let crashAfter = 0; crashAfter < 1000 && completedAt === undefined; crashAfter++) {
          const inner = prepared ? await copyStorage(prepared) : new MemoryStorage("mem://new");
          const locks: LockTable = new Set();
          const dying = new CrashingStorage(inner, { crashAfter, locks });
          const point = () =>
            `${name}, killed after operation ${crashAfter} (${dying.log.at(-1) ?? "none"})`;
          try {
            await writer.run(dying);
            // A writer that reports per-file failures (merge, clone) may return though killed.
            if (!dying.crashed) completedAt = crashAfter;
          } catch (error) {
            if (!(error instanceof SimulatedCrash)) {
              throw new Error(`${point()}: failed with something else than the kill`, {
                cause: error,
              });
            }
          }
          const next = new CrashingStorage(inner, { locks });
          await nextWriter(writer, next).catch((error) => {
            throw new Error(`${point()}: the next writer failed: ${error.message}`, {
              cause: error,
            });
          });
          const report = await verifyMirror(inner, { now: NEXT_AT });
          assert.ok(
            report.ok,
            `${point()}: verify failed: ${report.problems.map((p) => p.message).join("; ")}`,
          );
          await assert.rejects(inner.stat(JOURNAL_PATH), `${point()}: the journal is still there`);
          const after = await publishedBuilds(inner, NEXT_AT);
          for (const build of before) assert.ok(after.has(build), `${point()}: lost ${build}`);
          const added = [...after].filter((b) => !before.has(b)).sort();
          if (completedAt !== undefined) assert.deepEqual(added, [...writer.adds].sort(), point());
          for (const build of added) {
            assert.ok(writer.adds.includes(build), `${point()}: ${build}?`);
          }
          if (name !== "merge") {
            // One transaction: all of it or none of it (merge is one transaction per build).
            assert.ok(added.length === 0 || added.length === writer.adds.length, point());
          }
        }
        assert.ok(completedAt !== undefined && completedAt > 3, `${name} never completed`);
      },
    );
  }
});

describe("on a local directory (flock(2), real renames)", () => {
  test(
    "publish: killed after each storage operation, the next writer repairs it",
    TIMEOUT,
    async () => {
      const { alice } = await testKeys();
      const base = await baseMirror();
      const { dir, remove } = await tempDir("ferry-crash");
      try {
        let completed = false;
        for (let crashAfter = 0; crashAfter < 100 && !completed; crashAfter++) {
          const root = nodePath.join(dir, String(crashAfter));
          await copyStorage(base, new LocalStorage(root));
          const dying = new CrashingStorage(new LocalStorage(root), { crashAfter });
          const point = () =>
            `killed after operation ${crashAfter} (${dying.log.at(-1) ?? "none"})`;
          await publishComponent(dying, helloPackage({ version: "v1.1.0" }), {
            key: alice,
            now: CRASH_AT,
          }).then(() => (completed = true), (error) => {
            if (!(error instanceof SimulatedCrash)) throw error;
          });
          // The next writer is another process: its own LocalStorage, the real flock.
          await renewComponent(new LocalStorage(root), {}, { now: NEXT_AT });
          const report = await verifyMirror(new LocalStorage(root), { now: NEXT_AT });
          assert.ok(report.ok, `${point()}: ${report.problems.map((p) => p.message).join("; ")}`);
          const builds = await publishedBuilds(new LocalStorage(root), NEXT_AT);
          assert.ok(builds.has("hello v1.0.0 linux/amd64"), point());
          if (completed) assert.ok(builds.has("hello v1.1.0 linux/amd64"), point());
          await fs.rm(root, { recursive: true, force: true });
        }
        assert.ok(completed);
      } finally {
        await remove();
      }
    },
  );
});

describe("a disk-full error while copying into commits/", () => {
  test("fails the publish and leaves the mirror as it was (no live version)", TIMEOUT, async () => {
    const { alice } = await testKeys();
    const storage = await baseMirror();
    const timestamp = (await storage.stat("timestamp.json")).size;
    const before = await publishedBuilds(storage, CRASH_AT);
    const beforeTimestamp = new TextDecoder().decode(
      new Uint8Array(await new Response((await storage.read("timestamp.json")).body).arrayBuffer()),
    );
    const full = new Proxy(storage, {
      get(target, property) {
        if (property === "write") {
          return (
            path: string,
            ...rest: Parameters<Storage["write"]> extends [string, ...infer R] ? R : never
          ) => {
            if (path.startsWith("commits/commit-")) {
              const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), {
                code: "ENOSPC",
              });
              return Promise.reject(new StorageError(`Cannot write "${path}"`, { cause: enospc }));
            }
            return target.write(path, ...rest);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await assert.rejects(
      publishComponent(full, helloPackage({ version: "v1.1.0" }), { key: alice, now: CRASH_AT }),
      (error: Error) => error instanceof StorageError && /commits\/commit-/.test(error.message),
    );
    const afterTimestamp = new TextDecoder().decode(
      new Uint8Array(await new Response((await storage.read("timestamp.json")).body).arrayBuffer()),
    );
    assert.equal(afterTimestamp, beforeTimestamp, "the failed publish went live");
    assert.equal((await storage.stat("timestamp.json")).size, timestamp);
    assert.deepEqual(await publishedBuilds(storage, CRASH_AT), before);
    await assert.rejects(storage.stat(JOURNAL_PATH));
    assert.equal((await verifyMirror(storage, { now: CRASH_AT })).ok, true);
    // With space again, the same publish works.
    await publishComponent(storage, helloPackage({ version: "v1.1.0" }), {
      key: alice,
      now: CRASH_AT,
    });
    assert.ok((await publishedBuilds(storage, CRASH_AT)).has("hello v1.1.0 linux/amd64"));
  });
});

/**
 * A mirror where publishing hello v1.1.0 was killed right after snapshot.json was replaced,
 * before timestamp.json; and the storage the next writer ("another process") uses.
 */
async function killedAfterSnapshot(): Promise<{ inner: MemoryStorage; next: CrashingStorage }> {
  const { alice } = await testKeys();
  const storage = await baseMirror();
  for (let crashAfter = 1; crashAfter < 100; crashAfter++) {
    const inner = await copyStorage(storage);
    const locks: LockTable = new Set();
    const dying = new CrashingStorage(inner, { crashAfter, locks });
    await publishComponent(dying, helloPackage({ version: "v1.1.0" }), {
      key: alice,
      now: CRASH_AT,
    }).catch(() => {});
    if (dying.log.at(-1) === "write snapshot.json") {
      return { inner, next: new CrashingStorage(inner, { locks }) };
    }
  }
  throw new Error("publish never wrote snapshot.json");
}

describe("an interrupted commit before the next writer", () => {
  test("verify names the commit and the command that completes it", TIMEOUT, async () => {
    const { inner, next } = await killedAfterSnapshot();
    const report = await verifyMirror(inner, { now: CRASH_AT });
    assert.equal(report.ok, false);
    const interrupted = report.problems.find((p) => p.kind === "interrupted");
    assert.ok(interrupted, JSON.stringify(report.problems));
    assert.equal(interrupted.file, JOURNAL_PATH);
    assert.match(interrupted.message, /commit commit-\d+ \(started 2026-01-02T00:00:00Z\)/);
    assert.match(interrupted.message, /ferry mirror renew --mirror mem:\/\/mirror/);
    const result = await renewComponent(next, {}, { now: NEXT_AT });
    assert.match(result.warnings.join("\n"), /Completed the interrupted commit commit-\d+/);
    assert.equal((await verifyMirror(inner, { now: NEXT_AT })).ok, true);
    assert.ok((await publishedBuilds(inner, NEXT_AT)).has("hello v1.1.0 linux/amd64"));
  });

  test("a commit whose files went missing is rolled back, not completed", TIMEOUT, async () => {
    const { inner, next } = await killedAfterSnapshot();
    await inner.delete("hello-v1.1.0-linux-amd64.tar.gz");
    const result = await renewComponent(next, {}, { now: NEXT_AT });
    assert.match(result.warnings.join("\n"), /Rolled back the interrupted commit/);
    assert.equal((await verifyMirror(inner, { now: NEXT_AT })).ok, true);
    assert.ok(!(await publishedBuilds(inner, NEXT_AT)).has("hello v1.1.0 linux/amd64"));
  });
});
