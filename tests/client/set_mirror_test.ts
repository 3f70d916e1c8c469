import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";
import { setMirror } from "../../lib/client/set_mirror.ts";
import { SignatureError, StorageError } from "../../lib/errors.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { MirrorSimulator, type SimulatorKeys } from "../repo/_simulator.ts";
import { clientKeys, NOW, now, tempHome, tree } from "./_client_mirror.ts";

describe("setMirror()", () => {
  let keys: SimulatorKeys;
  let sim: MirrorSimulator;
  let home: string;
  before(async () => {
    keys = await clientKeys();
    sim = await MirrorSimulator.create(keys, { now: NOW });
  });
  beforeEach(async () => (home = await tempHome()));
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));
  after(() => {});

  const read = (path: string) => fs.readFile(nodePath.join(home, path));

  it("trusts a local mirror's root.json on first use and reports its key fingerprints", async () => {
    const dir = nodePath.join(home, "..", "some-mirror");
    const result = await setMirror(home, dir, { mirror: sim.storage, now });
    assert.equal(result.address, nodePath.resolve(dir));
    assert.equal(result.rootSource, "mirror");
    assert.equal(result.insecure, false);
    assert.equal(result.expired, false);
    assert.equal(result.root.version, 1);
    assert.deepEqual(
      result.root.roles.root.keyIds,
      keys.root.map((k) => k.id.slice(0, 16)).sort(),
    );
    assert.deepEqual(result.root.roles.timestamp.keyIds, [keys.timestamp.id.slice(0, 16)]);
    assert.deepEqual(await read("bin/root.json"), Buffer.from(await sim.file("root.json")));
    assert.equal((await readProfileConfig(home)).mirror, nodePath.resolve(dir));
  });

  it("deletes the manifest cache of the previous mirror", async () => {
    await fs.mkdir(nodePath.join(home, "manifests"), { recursive: true });
    await fs.writeFile(nodePath.join(home, "manifests", "timestamp.json"), "old");
    await setMirror(home, "/m", { mirror: sim.storage, now });
    assert.deepEqual(await tree(nodePath.join(home, "manifests")), []);
  });

  it("caches an http mirror's root per address and uses that copy next time", async () => {
    const address = "http://mirror.test:8080/";
    const first = await setMirror(home, address, { mirror: sim.storage, now });
    assert.equal(first.insecure, true, "trust on first use over plain http is flagged");
    const hash = createHash("sha256").update(address).digest("hex").slice(0, 16);
    assert.deepEqual(await read(`bin/${hash}.root.json`), await read("bin/root.json"));
    // The mirror now serves another root (a man in the middle, say): the cached one still wins.
    const other = await MirrorSimulator.create({ ...keys, root: [keys.index, keys.snapshot] }, {
      now: NOW,
    });
    const second = await setMirror(home, address, { mirror: other.storage, now });
    assert.equal(second.rootSource, "cache");
    assert.equal(second.insecure, false);
    assert.deepEqual(await read("bin/root.json"), Buffer.from(await sim.file("root.json")));
  });

  it("uses an explicit --root over the mirror's and the cached one", async () => {
    const other = await MirrorSimulator.create({ ...keys, root: [keys.index, keys.snapshot] }, {
      now: NOW,
    });
    const bytes = await other.file("root.json");
    const result = await setMirror(home, "https://m.test", {
      mirror: sim.storage,
      root: { bytes, from: "./root.json" },
      now,
    });
    assert.equal(result.rootSource, "flag");
    assert.deepEqual(await read("bin/root.json"), Buffer.from(bytes));
  });

  it("refuses a root that is not signed by a threshold of its own keys, changing nothing", async () => {
    const forged = new MirrorSimulator(keys, NOW);
    forged.rootSigners = [keys.root[0]!]; // threshold is 2
    await forged.writeRoot({ unversioned: true });
    await assert.rejects(setMirror(home, "/m", { mirror: forged.storage, now }), SignatureError);
    assert.deepEqual(await tree(home), []);
  });

  it("refuses a mirror without root.json with a hint, changing nothing", async () => {
    await assert.rejects(
      setMirror(home, "/m", { mirror: new MemoryStorage(), now }),
      (error: Error) =>
        error instanceof StorageError && /no root\.json.*--root/.test(error.message),
    );
    assert.deepEqual(await tree(home), []);
  });

  it("accepts an expired root but says it is expired (TiUP #2722)", async () => {
    const later = () => new Date(NOW.getTime() + 400 * 86_400_000);
    const result = await setMirror(home, "/m", { mirror: sim.storage, now: later });
    assert.equal(result.expired, true);
  });

  it("keeps other lines of ferry.toml", async () => {
    await fs.writeFile(nodePath.join(home, "ferry.toml"), '# mine\nmirror = "/old"\nother = "x"\n');
    await setMirror(home, "/new", { mirror: sim.storage, now });
    assert.equal(
      await fs.readFile(nodePath.join(home, "ferry.toml"), "utf8"),
      '# mine\nmirror = "/new"\nother = "x"\n',
    );
  });
});
