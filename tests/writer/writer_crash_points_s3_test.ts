/**
 * Crash safety of a publish on S3 (the real Ceph RGW of the project's rig): the publish runs on
 * an S3Storage that "dies" after its 1st, 2nd, … storage operation (write, delete, copy; the
 * lease's renewals die with it), every one in turn until the publish completes. After
 * each kill a client reading the bucket sees the old mirror or the new one, never a mix; the next
 * writer waits out the dead writer's lease, recovers, and the mirror verifies with no version
 * lost and the interrupted one all there or not at all.
 *
 * @module
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { verifyMirror } from "../../lib/mirror/verify_mirror.ts";
import type { S3Storage } from "../../lib/storage/s3_storage.ts";
import type { FileStat, RequestOptions, Storage, WriteOptions } from "../../lib/storage/storage.ts";
import { JOURNAL_PATH } from "../../lib/writer/commit_journal.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { renewComponent } from "../../lib/writer/renew_component.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "../storage/_s3_rig.ts";
import { copyStorage, SimulatedCrash } from "./_crashing_storage.ts";
import { day, helloPackage, makeMirror, T0, tarball, testKeys } from "../_simulator.ts";
import { urlToPath } from "../../lib/format/versioned_name.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import { MirrorUpdater } from "../../lib/trust/mirror_updater.ts";

const TIMEOUT = { timeout: 600_000 };
const CRASH_AT = day(1);
const NEXT_AT = day(2);
/** Short, so the next writer waits out a dead writer's lease quickly (real time, as leases use). */
const LEASE_TTL_MS = 1500;

/**
 * `inner` as a writer sees it until it dies: after `crashAfter` mutating operations (write,
 * delete, copy) every call throws SimulatedCrash, as if the process had been
 * killed right after the last one. A dead writer's lease stays in the bucket until it expires,
 * exactly as a killed process leaves it.
 */
function dying(inner: S3Storage, crashAfter: number): Storage & {
  replaceIfMatch: S3Storage["replaceIfMatch"];
  log: string[];
  crashed(): boolean;
} {
  const log: string[] = [];
  let dead = false;
  const alive = () => {
    if (dead) throw new SimulatedCrash("the writer is dead");
  };
  const step = (what: string) => {
    alive();
    if (log.length >= crashAfter) {
      dead = true;
      throw new SimulatedCrash(`killed before operation ${log.length + 1} (${what})`);
    }
    log.push(what);
  };
  return {
    location: inner.location,
    log,
    crashed: () => dead,
    stat: (path, options) => (alive(), inner.stat(path, options)),
    read: (path, options) => (alive(), inner.read(path, options)),
    async *list(prefix: string, options?: RequestOptions) {
      alive();
      yield* inner.list(prefix, options);
    },
    write(path: string, data, options?: WriteOptions): Promise<FileStat> {
      step(`write ${path}`);
      return inner.write(path, data, options);
    },
    delete(path: string, options?: RequestOptions) {
      step(`delete ${path}`);
      return inner.delete(path, options);
    },
    copy(from: string, to: string) {
      step(`copy ${from} → ${to}`);
      return inner.copy(from, to);
    },
    // The lease's swaps die with the writer but are not crash points of their own: renewals
    // run on a timer, and counting them would move every other point from run to run.
    replaceIfMatch(path, data, identity, options) {
      alive();
      return inner.replaceIfMatch(path, data, identity, options);
    },
    sweepTempFiles: (options) => (alive(), inner.sweepTempFiles(options)),
  };
}

/**
 * What a client reading the bucket sees: a refresh from root.json (through `cache`, a client
 * that has read the mirror before, when given), then for every version of hello the mirror
 * lists, a tarball of the listed length. Throws if the refresh fails or a tarball is missing.
 */
async function clientView(storage: S3Storage, now: Date, cache?: Storage): Promise<string[]> {
  const updater = new MirrorUpdater(storage, {
    trustedRoot: await readBytes(storage, "root.json"),
    now: () => now,
    ...(cache ? { cache } : {}),
  });
  await updater.refresh();
  const hello = await updater.component("hello");
  const versions = Object.entries(hello.signed.platforms["linux/amd64"] ?? {});
  for (const [version, item] of versions) {
    const stat = await storage.stat(urlToPath(item.url));
    assert.equal(stat.size, item.length, `hello ${version}: the tarball is ${stat.size} bytes`);
  }
  return versions.map(([version]) => version).sort();
}

describe("a publish on S3 survives a kill after any storage operation", { skip: S3_SKIP }, () => {
  after(stopS3Rig);

  test(
    "killed after each storage operation: readers see old or new, the next writer recovers",
    TIMEOUT,
    async () => {
      const rig = await s3Rig();
      const keys = await testKeys();
      // A tarball over the multipart threshold (8 MiB), so the copy into commits/ is a copy of a
      // multipart object too.
      const big = tarball("x".repeat(9 * 1024 * 1024));
      const { storage: base } = await makeMirror();
      await publishComponent(base, helloPackage(), { key: keys.alice, now: T0 });
      let completedAt: number | undefined;
      const seen: string[] = [];
      for (let crashAfter = 0; crashAfter < 100 && completedAt === undefined; crashAfter++) {
        const bucket = await rig.storage();
        try {
          await copyStorage(base, bucket);
          const cache = new MemoryStorage("mem://client-cache");
          assert.deepEqual(await clientView(bucket, CRASH_AT, cache), ["v1.0.0"]);
          const writer = dying(bucket, crashAfter);
          const point = () =>
            `killed after operation ${crashAfter} (${writer.log.at(-1) ?? "none"})`;
          try {
            await publishComponent(writer, helloPackage({ version: "v1.1.0", tarball: big }), {
              key: keys.alice,
              now: CRASH_AT,
              lock: { leaseTtlMs: LEASE_TTL_MS, waitMs: 0 },
            });
            completedAt = crashAfter;
          } catch (error) {
            // Dead is dead: after the kill, a failure the writer notices on its own (its lease,
            // whose renewal died, expired) is still the kill; nothing more reaches the bucket.
            if (!(error instanceof SimulatedCrash) && !writer.crashed()) {
              throw new Error(`${point()}: failed with something else than the kill`, {
                cause: error,
              });
            }
          }
          const last = writer.log.at(-1) ?? "none";
          seen.push(last);
          // Before anyone repairs it, a client that had read the mirror sees the old mirror or the
          // new one, never a mix.
          const view = await clientView(bucket, CRASH_AT, cache).catch((error) => {
            throw new Error(`${point()}: a client sees a half-written mirror: ${error.message}`, {
              cause: error,
            });
          });
          assert.ok(["v1.0.0", "v1.0.0,v1.1.0"].includes(view.join()), `${point()}: ${view}`);
          // A client new to the mirror, in the gap between the switches of snapshot.json and
          // timestamp.json (no order of two PUTs closes it: recover_interrupted_commit.ts), is
          // refused — it never accepts the mix — and anywhere else sees old or new.
          const fresh = await clientView(bucket, CRASH_AT).then(
            (versions) => versions.join(),
            (error: Error) => `refused: ${error.name}: ${error.message}`,
          );
          const gap = writer.log.includes("write snapshot.json") &&
            !writer.log.includes("write timestamp.json");
          if (gap) assert.match(fresh, /^refused: /, point());
          else assert.ok(["v1.0.0", "v1.0.0,v1.1.0"].includes(fresh), `${point()}: ${fresh}`);
          // The next writer: the dead writer's lease (in the bucket) is waited out, then taken.
          await renewComponent(bucket, {}, { now: NEXT_AT, lock: { waitMs: 30_000 } }).catch(
            (error) => {
              throw new Error(`${point()}: the next writer failed: ${error.message}`, {
                cause: error,
              });
            },
          );
          const report = await verifyMirror(bucket, { now: NEXT_AT });
          assert.ok(
            report.ok,
            `${point()}: verify failed: ${report.problems.map((p) => p.message).join("; ")}`,
          );
          await assert.rejects(bucket.stat(JOURNAL_PATH), `${point()}: the journal is still there`);
          const versions = await clientView(bucket, NEXT_AT);
          if (completedAt !== undefined) assert.deepEqual(versions, ["v1.0.0", "v1.1.0"], point());
          else assert.ok(versions.includes("v1.0.0"), `${point()}: lost v1.0.0`);
        } finally {
          await rig.empty(bucket);
        }
      }
      assert.ok(
        completedAt !== undefined && completedAt > 5,
        `never completed: ${seen.join(", ")}`,
      );
      // Every kind of step was a crash point: the lease, the tarball, the journal, the switch.
      for (
        const step of [
          "write lock",
          "write hello-v1.1.0-linux-amd64.tar.gz",
          "write commits/pending.json",
          "write snapshot.json",
          "write timestamp.json",
        ]
      ) {
        assert.ok(seen.some((s) => s.startsWith(step)), `${step}: ${seen.join(", ")}`);
      }
    },
  );
});
