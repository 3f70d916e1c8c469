import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import {
  ExpiredError,
  HashMismatchError,
  HttpStatusError,
  LengthMismatchError,
  NotFoundError,
  RollbackError,
  SignatureError,
  TooLargeError,
} from "../../lib/errors.ts";
import { MAX_MANIFEST_BYTES } from "../../lib/format/repo_defaults.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import type { VersionItem } from "../../lib/format/manifest_types.ts";
import { MirrorUpdater } from "../../lib/trust/mirror_updater.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type {
  FileStat,
  ReadOptions,
  StorageReader,
  StoredObject,
} from "../../lib/storage/storage.ts";
import { assignKeys, keyMap, MirrorSimulator, type SimulatorKeys, T0 } from "../_simulator.ts";
import { takeTestKeys } from "../_keys.ts";
const now = () => T0;

/** A mirror seen through a recording lens, optionally failing some paths the way a server might. */
class RecordingReader implements StorageReader {
  readonly reads: string[] = [];
  constructor(readonly inner: StorageReader, readonly fail: Record<string, () => Error> = {}) {}
  get location(): string {
    return this.inner.location;
  }
  stat(path: string): Promise<FileStat> {
    return this.inner.stat(path);
  }
  read(path: string, options?: ReadOptions): Promise<StoredObject> {
    this.reads.push(path);
    const failure = this.fail[path];
    if (failure) return Promise.reject(failure());
    return this.inner.read(path, options);
  }
}

describe("MirrorUpdater", () => {
  let keys: SimulatorKeys;
  let spare: SigningKey[];
  let dir: string;
  before(async () => {
    const pool = takeTestKeys(9);
    keys = assignKeys(pool);
    spare = pool.slice(6);
    dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-updater-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function mirror() {
    const sim = await MirrorSimulator.create(keys, { now: T0 });
    await sim.publish("tidb", "v1.0.0");
    await sim.publish("pd", "v1.0.0");
    return sim;
  }
  async function updater(sim: MirrorSimulator, cache?: MemoryStorage, reader?: StorageReader) {
    return new MirrorUpdater(reader ?? sim.storage, {
      trustedRoot: await sim.file("root.json"),
      ...(cache ? { cache } : {}),
      now,
    });
  }
  function item(sim: MirrorSimulator, name = "tidb", version = "v1.0.0"): VersionItem {
    return sim.components.get(name)!.platforms["linux/amd64"]![version]!;
  }

  it("updates root → timestamp → snapshot → index → component → tarball", async () => {
    const sim = await mirror();
    const client = await updater(sim);
    const result = await client.refresh();
    assert.equal(result.index.signed.version, sim.index.version);
    assert.equal(result.changed, true);
    const tidb = await client.component("tidb");
    const into = new MemoryStorage();
    const stat = await client.fetchVerifiedTarball(
      tidb.signed.platforms["linux/amd64"]!["v1.0.0"]!,
      into,
      "t.tar.gz",
    );
    assert.equal(stat.size, item(sim).length);
  });

  it("caches raw bytes and fetches nothing but the timestamp when nothing changed", async () => {
    const sim = await mirror();
    const cache = new MemoryStorage();
    const first = await updater(sim, cache);
    await first.refresh();
    await first.component("tidb");
    for (const name of ["timestamp.json", "snapshot.json", "index.json", "tidb.json"]) {
      const cached = await readAll(cache, name);
      const versioned = name === "index.json"
        ? `${sim.index.version}.index.json`
        : name === "tidb.json"
        ? `${sim.components.get("tidb")!.version}.tidb.json`
        : name;
      assert.deepEqual(cached, await sim.file(versioned), `${name} is cached byte for byte`);
    }
    const reader = new RecordingReader(sim.storage);
    const second = await updater(sim, cache, reader);
    const result = await second.refresh();
    await second.component("tidb");
    assert.equal(result.changed, false);
    assert.deepEqual(reader.reads, ["timestamp.json"]);
  });

  it("fetches again a cached component manifest that a yank made shorter (stale, not an attack)", async () => {
    const sim = await mirror();
    const cache = new MemoryStorage();
    const first = await updater(sim, cache);
    await first.refresh();
    await first.component("tidb");
    // `mirror modify --yank`: "yanked": false → true, one byte shorter than the cached copy.
    const tidb = sim.components.get("tidb")!;
    tidb.platforms["linux/amd64"]!["v1.0.0"]!.yanked = true;
    tidb.version++;
    const yanked = await sim.writeComponent("tidb");
    await sim.commit();
    assert.ok(yanked.length < (await readAll(cache, "tidb.json")).length);
    const second = await updater(sim, cache);
    await second.refresh();
    const fresh = await second.component("tidb");
    assert.equal(fresh.signed.version, tidb.version);
    assert.equal(fresh.signed.platforms["linux/amd64"]!["v1.0.0"]!.yanked, true);
    assert.deepEqual(await readAll(cache, "tidb.json"), yanked);
  });

  it("fetches again a cached manifest that is longer than any manifest may be", async () => {
    const sim = await mirror();
    const cache = new MemoryStorage();
    await (await updater(sim, cache)).refresh();
    // A cache file damaged on disk is stale data to replace, never a reason to stop.
    await cache.write("index.json", new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x20));
    await cache.write("timestamp.json", new Uint8Array(4096).fill(0x20));
    await cache.write("tidb.json", new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x20));
    const client = await updater(sim, cache);
    const result = await client.refresh();
    assert.equal(result.index.signed.version, sim.index.version);
    assert.equal((await client.component("tidb")).signed.id, "tidb");
    assert.deepEqual(await readAll(cache, "timestamp.json"), await sim.file("timestamp.json"));
  });

  it("rejects a rolled-back timestamp version (a mirror restored from an old copy)", async () => {
    const sim = await mirror();
    const oldTimestamp = await sim.file("timestamp.json");
    const oldSnapshot = await sim.file("snapshot.json");
    await sim.publish("tidb", "v1.0.1");
    const cache = new MemoryStorage();
    await (await updater(sim, cache)).refresh();
    await sim.storage.write("timestamp.json", oldTimestamp);
    await sim.storage.write("snapshot.json", oldSnapshot);
    await assert.rejects((await updater(sim, cache)).refresh(), RollbackError);
  });

  it("rejects a freeze attack (expired timestamp)", async () => {
    const sim = await mirror();
    sim.timestamp.expires = sim.expiry(-1);
    await sim.writeTimestamp();
    await assert.rejects(
      (await updater(sim)).refresh(),
      (error) =>
        error instanceof ExpiredError &&
        error.message.startsWith('"timestamp.json" expired on 2025-12-31'),
    );
  });

  it("rejects an expired snapshot", async () => {
    const sim = await mirror();
    sim.snapshot.expires = sim.expiry(-1);
    await sim.commit();
    await assert.rejects(
      (await updater(sim)).refresh(),
      (error) =>
        error instanceof ExpiredError && error.message.startsWith('"snapshot.json" expired'),
    );
  });

  it("rejects mix-and-match (snapshot hash differs from timestamp)", async () => {
    const sim = await mirror();
    // Another validly signed snapshot of the same size, which this timestamp does not pin.
    const timestamp = await sim.file("timestamp.json");
    sim.snapshot.expires = sim.expiry(29);
    await sim.writeSnapshot();
    await sim.storage.write("timestamp.json", timestamp);
    await assert.rejects((await updater(sim)).refresh(), HashMismatchError);
  });

  it("rejects endless data (timestamp over 1024 bytes)", async () => {
    const sim = await mirror();
    await sim.storage.write("timestamp.json", new Uint8Array(4096).fill(0x20));
    await assert.rejects((await updater(sim)).refresh(), TooLargeError);
  });

  it("walks a rotated root (old and new thresholds) and trusts the new timestamp key", async () => {
    const sim = await mirror();
    const cache = new MemoryStorage();
    await (await updater(sim, cache)).refresh();
    sim.root = structuredClone(sim.root);
    sim.root.roles.timestamp.keys = keyMap([spare[2]!]);
    await sim.rotateRoot(spare.slice(0, 2));
    sim.keys.timestamp = spare[2]!;
    await sim.commit();
    const result = await (await updater(sim, cache)).refresh();
    assert.equal(result.rootVersion, 2);
    assert.deepEqual(await readAll(cache, "2.root.json"), await sim.file("2.root.json"));
    assert.deepEqual(await readAll(cache, "root.json"), await sim.file("2.root.json"));
  });

  it("rejects a root signed only by the new keys", async () => {
    const sim = await mirror();
    await sim.rotateRoot(spare.slice(0, 2), spare.slice(0, 2));
    await sim.commit();
    await assert.rejects((await updater(sim)).refresh(), SignatureError);
  });

  it("rejects a root signed only by the old keys", async () => {
    const sim = await mirror();
    await sim.rotateRoot(spare.slice(0, 2), keys.root);
    await sim.commit();
    await assert.rejects((await updater(sim)).refresh(), SignatureError);
  });

  it("stops the root walk only on 404", async () => {
    const sim = await mirror();
    // A timestamp the trusted root does not accept makes the client look for 2.root.json.
    await sim.writeTimestamp({ signers: [spare[2]!] });
    const missing = new RecordingReader(sim.storage);
    await assert.rejects((await updater(sim, undefined, missing)).refresh(), SignatureError);
    assert.deepEqual(missing.reads, ["timestamp.json", "2.root.json", "timestamp.json"]);
    const forbidden = new RecordingReader(sim.storage, {
      "2.root.json": () => new HttpStatusError("http://mirror/2.root.json", 403),
    });
    await assert.rejects((await updater(sim, undefined, forbidden)).refresh(), HttpStatusError);
    assert.ok(!(new HttpStatusError("x", 403) instanceof NotFoundError));
  });

  it("rejects a component signed by the wrong owner key", async () => {
    const sim = await mirror();
    sim.components.get("tidb")!.version++;
    await sim.writeComponent("tidb", [keys.index]);
    await sim.commit();
    const client = await updater(sim);
    await client.refresh();
    await assert.rejects(client.component("tidb"), SignatureError);
    await client.component("pd");
  });

  for (
    const [attack, body, error] of [
      ["a hash mismatch", (b: Uint8Array) => b.map((x) => x ^ 1), HashMismatchError],
      ["a wrong length", (b: Uint8Array) => new Uint8Array([...b, 0x0a]), LengthMismatchError],
      ["a truncated body", (b: Uint8Array) => b.slice(0, -1), LengthMismatchError],
    ] as const
  ) {
    it(`rejects a tarball with ${attack} and leaves nothing at the target`, async () => {
      const sim = await mirror();
      const client = await updater(sim);
      await client.refresh();
      const tidb = await client.component("tidb");
      const versionItem = tidb.signed.platforms["linux/amd64"]!["v1.0.0"]!;
      const path = versionItem.url.slice(1);
      await sim.storage.write(path, body(await sim.file(path)));
      const memory = new MemoryStorage();
      await assert.rejects(client.fetchVerifiedTarball(versionItem, memory, "x.tar.gz"), error);
      await assert.rejects(memory.stat("x.tar.gz"), NotFoundError);
      const local = new LocalStorage(nodePath.join(dir, attack.replaceAll(" ", "-")));
      await assert.rejects(client.fetchVerifiedTarball(versionItem, local, "x.tar.gz"), error);
      assert.deepEqual(await readdir(local.location).catch(() => []), []);
    });
  }
});

async function readAll(storage: StorageReader, path: string): Promise<Uint8Array> {
  const object = await storage.read(path);
  return new Uint8Array(await new Response(object.body).arrayBuffer());
}
