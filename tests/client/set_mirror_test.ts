import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { readProfileConfig } from "../../lib/client/read_profile_config.ts";
import { setMirror } from "../../lib/client/set_mirror.ts";
import { DownloadError, SignatureError, StorageError } from "../../lib/errors.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type { StorageReader } from "../../lib/storage/storage.ts";
import { MirrorSimulator, type SimulatorKeys } from "../_simulator.ts";
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
    const second = await setMirror(home, address, { mirror: sim.storage, now });
    assert.equal(second.rootSource, "cache");
    assert.equal(second.insecure, false);
    // The address now serves another mirror (a man in the middle, say): the cached root is not
    // replaced by its root, and it does not verify that mirror, so nothing is saved.
    const other = await MirrorSimulator.create(otherKeys(keys), { now: NOW });
    await assert.rejects(
      setMirror(home, address, { mirror: other.storage, now }),
      (error: Error) =>
        error instanceof SignatureError && /does not belong to the mirror/.test(error.message) &&
        /cached for this address/.test(error.message),
    );
    assert.deepEqual(await read("bin/root.json"), Buffer.from(await sim.file("root.json")));
  });

  it("uses an explicit --root over the mirror's own and the cached one", async () => {
    const rotated = await MirrorSimulator.create(keys, { now: NOW });
    const given = await rotated.file("root.json");
    await rotated.rotateRoot([keys.index, keys.snapshot]);
    await rotated.commit();
    const result = await setMirror(home, "https://m.test", {
      mirror: rotated.storage,
      root: { bytes: given, from: "./root.json" },
      now,
    });
    assert.equal(result.rootSource, "flag");
    assert.deepEqual(await read("bin/root.json"), Buffer.from(given));
  });

  it("refuses a --root of another mirror before saving anything (fault: saved, then list failed)", async () => {
    await setMirror(home, "/m", { mirror: sim.storage, now });
    const before = await tree(home);
    const config = await read("ferry.toml");
    const other = await MirrorSimulator.create(otherKeys(keys), { now: NOW });
    await assert.rejects(
      setMirror(home, "/other", {
        mirror: sim.storage,
        root: { bytes: await other.file("root.json"), from: "other-root.json" },
        now,
      }),
      (error: Error) =>
        error instanceof SignatureError &&
        /The root\.json given \(other-root\.json\) does not belong to the mirror "\/other"/
          .test(error.message) &&
        /signatures are valid/.test(error.message) && /leave out --root/.test(error.message),
    );
    assert.deepEqual(await tree(home), before);
    assert.deepEqual(await read("ferry.toml"), config);
    assert.deepEqual(await read("bin/root.json"), Buffer.from(await sim.file("root.json")));
  });

  it("refuses a --root whose mirror rotated its keys without it (a root not in the chain)", async () => {
    const rotated = await MirrorSimulator.create(keys, { now: NOW });
    await rotated.rotateRoot([keys.index, keys.snapshot], [keys.index, keys.snapshot]);
    await rotated.commit();
    await assert.rejects(
      setMirror(home, "/m", {
        mirror: rotated.storage,
        root: { bytes: await sim.file("root.json"), from: "old-root.json" },
        now,
      }),
      (error: Error) =>
        error instanceof SignatureError && /does not belong/.test(error.message) &&
        /2\.root\.json/.test(error.message),
    );
    assert.deepEqual(await tree(home), []);
  });

  it("tells an unreachable mirror apart from a wrong root, changing nothing", async () => {
    const unreachable: StorageReader = {
      location: "http://down.test/",
      stat: () => Promise.reject(new DownloadError("connection refused")),
      read: () => Promise.reject(new DownloadError("connection refused")),
    };
    await assert.rejects(
      setMirror(home, "http://down.test/", {
        mirror: unreachable,
        root: { bytes: await sim.file("root.json"), from: "root.json" },
        now,
      }),
      (error: Error) =>
        error instanceof DownloadError && /^Cannot reach the mirror/.test(error.message) &&
        !/belong/.test(error.message),
    );
    assert.deepEqual(await tree(home), []);
  });

  it("refuses a mirror whose own root.json does not verify its timestamp, naming the file", async () => {
    const broken = await MirrorSimulator.create(keys, { now: NOW });
    await broken.writeTimestamp({ signers: [keys.index] });
    await assert.rejects(
      setMirror(home, "/m", { mirror: broken.storage, now }),
      (error: Error) =>
        error instanceof SignatureError && /timestamp\.json/.test(error.message) &&
        !/belong/.test(error.message),
    );
    assert.deepEqual(await tree(home), []);
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
    assert.match(result.expiredDetail ?? "", /root.json.*expired on 2027-01-01/);
  });

  it("still refuses an expired root of another mirror as another mirror's", async () => {
    const later = () => new Date(NOW.getTime() + 400 * 86_400_000);
    const other = await MirrorSimulator.create(otherKeys(keys), { now: NOW });
    await assert.rejects(
      setMirror(home, "/m", {
        mirror: sim.storage,
        root: { bytes: await other.file("root.json"), from: "other.json" },
        now: later,
      }),
      (error: Error) => error instanceof SignatureError && /does not belong/.test(error.message),
    );
  });

  it("accepts a mirror with an expired timestamp and says what expired", async () => {
    const later = () => new Date(NOW.getTime() + 40 * 86_400_000);
    const result = await setMirror(home, "/m", { mirror: sim.storage, now: later });
    assert.equal(result.expired, true);
    assert.match(result.expiredDetail ?? "", /timestamp\.json/);
    assert.equal((await readProfileConfig(home)).mirror, "/m");
  });

  it("in a TiUP profile writes tiup.toml, bin/root.json and clears manifests/ as tiup does", async () => {
    await fs.mkdir(nodePath.join(home, "manifests"), { recursive: true });
    await fs.writeFile(nodePath.join(home, "manifests", "root.json"), "old");
    await setMirror(home, "/m", { mirror: sim.storage, now, tiupProfile: true });
    assert.equal(await fs.readFile(nodePath.join(home, "tiup.toml"), "utf8"), 'mirror = "/m"\n');
    assert.deepEqual(await read("bin/root.json"), Buffer.from(await sim.file("root.json")));
    assert.deepEqual(await tree(home), ["bin/root.json", "tiup.toml"]);
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

/** The same keys in other roles: a mirror that shares no role key with `keys`' mirror. */
function otherKeys(keys: SimulatorKeys): SimulatorKeys {
  return {
    root: [keys.index, keys.snapshot],
    index: keys.timestamp,
    snapshot: keys.owners.pingcap!,
    timestamp: keys.root[0]!,
    owners: { pingcap: keys.root[1]! },
  };
}
