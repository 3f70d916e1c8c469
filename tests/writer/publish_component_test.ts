import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  HashMismatchError,
  LengthMismatchError,
  SignatureError,
  StorageError,
  UsageError,
  VerificationError,
} from "../../lib/errors.ts";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { sha256Hex } from "../../lib/format/hash.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import type { Storage, WriteData, WriteOptions } from "../../lib/storage/storage.ts";
import {
  clientRefresh,
  day,
  helloPackage,
  makeMirror,
  readJson,
  tarball,
  treeDigest,
} from "../_simulator.ts";

/** A tarball source that says what it holds, as tarballFromFile() does. */
function withEntries<T extends object>(source: T, kinds: Record<string, string>) {
  const entries = new Map(
    Object.entries(kinds).map(([path, kind]) => [path, { path, kind, mode: 0o755 }]),
  );
  return { ...source, entries };
}

describe("publishComponent()", () => {
  it("accepts any tarball file name (a CI artifact named hello-linux-amd64.tar.gz)", async () => {
    for (const name of ["hello-linux-amd64.tar.gz", "hello-v0.9.0-darwin-arm64.tar.gz", "x.tgz"]) {
      const { storage, keys } = await makeMirror();
      const result = await publishComponent(
        storage,
        helloPackage({ tarball: withEntries(tarball("x", name), { hello: "file" }) }),
        { key: keys.alice, now: day(1) },
      );
      assert.equal(result.tarballPath, "hello-v1.0.0-linux-amd64.tar.gz", name);
    }
  });

  it("finds the entry under ./ and notes one that is not executable", async () => {
    const { storage, keys } = await makeMirror();
    const source = tarball("x");
    const entries = new Map([["hello", { path: "hello", kind: "file", mode: 0o644 }]]);
    const result = await publishComponent(
      storage,
      helloPackage({ entry: "./hello", tarball: { ...source, entries } }),
      { key: keys.alice, now: day(1) },
    );
    assert.match(result.notes.join("\n"), /"hello" is not executable/);
  });

  it("adds tarball, component v1, index, snapshot and timestamp that a client verifies", async () => {
    const { storage, keys } = await makeMirror();
    const result = await publishComponent(storage, helloPackage(), {
      key: keys.alice,
      now: day(1),
    });
    assert.deepEqual(result.files, [
      "hello-v1.0.0-linux-amd64.tar.gz",
      "1.hello.json",
      "3.index.json",
      "snapshot.json",
      "timestamp.json",
    ]);
    assert.equal(result.created, true);
    const { result: refreshed, updater } = await clientRefresh(storage, day(2));
    assert.equal(refreshed.index.signed.components.hello?.owner, "alice");
    const hello = await updater.component("hello");
    const item = hello.signed.platforms["linux/amd64"]?.["v1.0.0"];
    assert.ok(item);
    const into = new MemoryStorage();
    await updater.fetchVerifiedTarball(item, into, "t.tar.gz");
    assert.equal(new TextDecoder().decode(await readBytes(into, "t.tar.gz")), "hello v1.0.0 ");
  });

  it("writes exactly the Go field sets, null dependencies and RFC 3339 without fractions", async () => {
    const { storage, keys } = await makeMirror();
    await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
    const file = await readJson(storage, "1.hello.json");
    assert.deepEqual(Object.keys(file), ["signatures", "signed"]);
    assert.deepEqual(Object.keys(file.signed), [
      "_type",
      "description",
      "expires",
      "id",
      "nightly",
      "platforms",
      "spec_version",
      "version",
    ]);
    const item = file.signed.platforms["linux/amd64"]["v1.0.0"];
    assert.deepEqual(Object.keys(item), [
      "dependencies",
      "entry",
      "hashes",
      "length",
      "released",
      "url",
      "yanked",
    ]);
    assert.equal(item.dependencies, null);
    assert.equal(item.released, "2026-01-02T00:00:00Z");
    assert.equal(item.url, "/hello-v1.0.0-linux-amd64.tar.gz");
    assert.equal(file.signed.expires, "2031-01-01T00:00:00Z"); // now + 5 × 365 days
    const index = await readJson(storage, "3.index.json");
    assert.deepEqual(Object.keys(index.signed.components.hello), [
      "hidden",
      "owner",
      "standalone",
      "url",
      "yanked",
    ]);
    // Every file is canonical JSON, byte for byte, with no trailing newline.
    for (const path of ["1.hello.json", "3.index.json", "snapshot.json", "timestamp.json"]) {
      const text = new TextDecoder().decode(await readBytes(storage, path));
      assert.equal(text, canonicalJson(JSON.parse(text)), path);
    }
  });

  it("keeps snapshot version 0 with exact lengths and the timestamp ≤ 1024 bytes with the exact hash", async () => {
    const { storage, keys } = await makeMirror();
    await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
    const snapshot = await readJson(storage, "snapshot.json");
    assert.equal(snapshot.signed.version, 0);
    for (
      const [url, entry] of Object.entries(snapshot.signed.meta) as [
        string,
        { length: number; version: number },
      ][]
    ) {
      const path = url === "/root.json" ? "root.json" : `${entry.version}.${url.slice(1)}`;
      assert.equal((await readBytes(storage, path)).length, entry.length, url);
    }
    const timestampBytes = await readBytes(storage, "timestamp.json");
    assert.ok(timestampBytes.length <= 1024, `${timestampBytes.length} bytes`);
    const timestamp = JSON.parse(new TextDecoder().decode(timestampBytes));
    const snapshotBytes = await readBytes(storage, "snapshot.json");
    assert.deepEqual(timestamp.signed.meta, {
      "/snapshot.json": {
        hashes: {
          sha256: sha256Hex(snapshotBytes),
          sha512: timestamp.signed.meta["/snapshot.json"].hashes.sha512,
        },
        length: snapshotBytes.length,
      },
    });
    assert.equal(timestamp.signed.version, 3); // init 1, grant 2, publish 3
    assert.equal(snapshot.signed.expires, "2026-02-01T00:00:00Z"); // now + 30 d
  });

  it("adds a second version to the same manifest and leaves the index alone", async () => {
    const { storage, keys } = await makeMirror();
    await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
    const second = await publishComponent(
      storage,
      helloPackage({ version: "v1.1.0", description: "Says hello" }),
      { key: keys.alice, now: day(2) },
    );
    assert.equal(second.created, false);
    assert.ok(!second.files.some((f) => f.endsWith(".index.json")));
    const manifest = await readJson(storage, "2.hello.json");
    assert.deepEqual(Object.keys(manifest.signed.platforms["linux/amd64"]), ["v1.0.0", "v1.1.0"]);
    assert.equal(manifest.signed.description, "Says hello");
    assert.equal(manifest.signed.version, 2);
    // The first version's file is untouched.
    await clientRefresh(storage, day(3));
  });

  it("places the latest tiup tarball at tiup-<os>-<arch>.tar.gz, never an older one (copyTiUP)", async () => {
    const { storage, keys } = await makeMirror();
    const tiup = (version: string) =>
      helloPackage({
        component: "tiup",
        version,
        entry: "tiup",
        tarball: tarball(`tiup ${version}`),
      });
    await publishComponent(storage, tiup("v1.2.0"), { key: keys.alice, now: day(1) });
    const installer = () => readBytes(storage, "tiup-linux-amd64.tar.gz");
    assert.equal(
      sha256Hex(await installer()),
      sha256Hex(await readBytes(storage, "tiup-v1.2.0-linux-amd64.tar.gz")),
    );
    await publishComponent(storage, tiup("v1.1.9"), { key: keys.alice, now: day(2) });
    assert.equal(
      sha256Hex(await installer()),
      sha256Hex(await readBytes(storage, "tiup-v1.2.0-linux-amd64.tar.gz")),
      "publishing an older version keeps the newest installer",
    );
    await publishComponent(storage, tiup("v1.3.0"), { key: keys.alice, now: day(3) });
    assert.equal(
      sha256Hex(await installer()),
      sha256Hex(await readBytes(storage, "tiup-v1.3.0-linux-amd64.tar.gz")),
    );
    await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(4) });
    await assert.rejects(readBytes(storage, "hello-linux-amd64.tar.gz"), /Cannot find/);
    await clientRefresh(storage, day(5));
  });

  it("makes a nightly the component's nightly and drops older nightlies from every platform", async () => {
    const { storage, keys } = await makeMirror();
    const publish = (version: string, platform: string) =>
      publishComponent(storage, helloPackage({ version, platform }), {
        key: keys.alice,
        now: day(1),
      });
    await publish("v1.0.0", "linux/amd64");
    await publish("v1.1.0-nightly-20260101", "linux/amd64");
    await publish("v1.1.0-nightly-20260101", "darwin/arm64");
    await publish("v1.1.0-nightly-20260102", "linux/arm64");
    const state = await loadRepositoryState(storage);
    const version = state.snapshot.manifest.signed.meta["/hello.json"]!.version;
    const manifest = (await readJson(storage, `${version}.hello.json`)).signed;
    assert.equal(manifest.nightly, "v1.1.0-nightly-20260102");
    assert.deepEqual(Object.keys(manifest.platforms["linux/amd64"]), ["v1.0.0"]);
    assert.deepEqual(Object.keys(manifest.platforms["darwin/arm64"]), []);
    assert.deepEqual(Object.keys(manifest.platforms["linux/arm64"]), ["v1.1.0-nightly-20260102"]);
    // Nothing is deleted from storage: the old nightly tarballs stay.
    await storage.stat("hello-v1.1.0-nightly-20260101-linux-amd64.tar.gz");
  });

  it("applies --standalone and --hide to a new component only, with a note for an existing one", async () => {
    const { storage, keys } = await makeMirror();
    await publishComponent(storage, helloPackage({ standalone: true, hidden: true }), {
      key: keys.alice,
      now: day(1),
    });
    const index = await readJson(storage, "3.index.json");
    assert.equal(index.signed.components.hello.standalone, true);
    assert.equal(index.signed.components.hello.hidden, true);
    const again = await publishComponent(
      storage,
      helloPackage({ version: "v2.0.0", standalone: false }),
      { key: keys.alice, now: day(1) },
    );
    assert.match(again.notes[0] ?? "", /apply only to new components/);
  });

  it("renames the tarball and accepts a differently named source file", async () => {
    const { storage, keys } = await makeMirror();
    const result = await publishComponent(
      storage,
      helloPackage({ tarball: tarball("x", "hello_1.0.0_linux_amd64.tar.gz") }),
      { key: keys.alice, now: day(1) },
    );
    assert.equal(result.tarballPath, "hello-v1.0.0-linux-amd64.tar.gz");
  });

  it("retries the same bytes harmlessly but refuses different bytes for a published version", async () => {
    const { storage, keys } = await makeMirror();
    await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
    await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
    const before = await treeDigest(storage);
    await assert.rejects(
      publishComponent(storage, helloPackage({ tarball: tarball("other bytes") }), {
        key: keys.alice,
        now: day(1),
      }),
      (error: Error) =>
        error instanceof UsageError &&
        /already published with different content/.test(error.message),
    );
    assert.deepEqual(await treeDigest(storage), before);
  });

  it("publishes onto an expired mirror and renews its snapshot and timestamp", async () => {
    const { storage, keys } = await makeMirror();
    const late = day(100); // snapshot and timestamp expired at day 30
    await assert.rejects(clientRefresh(storage, late));
    const result = await publishComponent(storage, helloPackage(), { key: keys.alice, now: late });
    assert.deepEqual(result.before.expired.map((e) => e.file.split("/").pop()), [
      "snapshot.json",
      "timestamp.json",
    ]);
    await clientRefresh(storage, day(101));
  });

  it("copies every file of the transaction into commits/commit-<unixnano>/", async () => {
    const { storage, keys } = await makeMirror();
    const result = await publishComponent(storage, helloPackage(), {
      key: keys.alice,
      now: day(1),
    });
    assert.equal(result.commitDir, `commits/commit-${BigInt(day(1).getTime()) * 1_000_000n}`);
    for (const file of result.files) {
      assert.deepEqual(
        await readBytes(storage, `${result.commitDir}/${file}`),
        await readBytes(storage, file),
        file,
      );
    }
  });

  describe("refuses bad input and leaves the mirror exactly as it was", () => {
    const cases: Array<[
      string,
      (k: Awaited<ReturnType<typeof makeMirror>>["keys"]) => {
        pkg: ReturnType<typeof helloPackage>;
        key: typeof k.alice;
      },
      RegExp,
    ]> = [
      [
        "an unknown platform",
        (k) => ({ pkg: helloPackage({ platform: "windows/amd64" }), key: k.alice }),
        /platform "windows\/amd64"/,
      ],
      [
        "a reserved component name",
        (k) => ({ pkg: helloPackage({ component: "timestamp" }), key: k.alice }),
        /reserved/,
      ],
      [
        "a component name with a slash",
        (k) => ({ pkg: helloPackage({ component: "../x" }), key: k.alice }),
        /letters, digits/,
      ],
      [
        "a version with a space",
        (k) => ({ pkg: helloPackage({ version: "v1 0" }), key: k.alice }),
        /version/,
      ],
      ["an empty entry", (k) => ({ pkg: helloPackage({ entry: "" }), key: k.alice }), /entry/],
      [
        "an entry the tarball does not hold (every install would fail)",
        (k) => ({
          pkg: helloPackage({
            entry: "bin/hello",
            tarball: withEntries(tarball("x"), { hello: "file", "README": "file" }),
          }),
          key: k.alice,
        }),
        /entry "bin\/hello".*has no such file; it holds "hello", "README"/,
      ],
      [
        "an entry that is a directory in the tarball",
        (k) => ({
          pkg: helloPackage({
            entry: "./bin/",
            tarball: withEntries(tarball("x"), { bin: "directory", "bin/hello": "file" }),
          }),
          key: k.alice,
        }),
        /entry "\.\/bin\/".*directory/,
      ],
      [
        "a key that belongs to no owner",
        (k) => ({ pkg: helloPackage(), key: k.bob }),
        /belongs to no owner.*grant/,
      ],
    ];
    for (const [what, make, message] of cases) {
      it(`refuses ${what}`, async () => {
        const { storage, keys } = await makeMirror();
        const before = await treeDigest(storage);
        const { pkg, key } = make(keys);
        await assert.rejects(
          publishComponent(storage, pkg, { key, now: day(1) }),
          (error: Error) => error instanceof UsageError && message.test(error.message),
        );
        assert.deepEqual(await treeDigest(storage), before);
      });
    }

    it("refuses a key that is not the existing component's owner", async () => {
      const { storage, keys } = await makeMirror();
      const { grantOwner } = await import("../../lib/writer/grant_owner.ts");
      await grantOwner(storage, { id: "bob", key: keys.bob.publicInfo }, { now: day(1) });
      await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
      const before = await treeDigest(storage);
      await assert.rejects(
        publishComponent(storage, helloPackage({ version: "v2.0.0" }), {
          key: keys.bob,
          now: day(1),
        }),
        /belongs to owner "alice"/,
      );
      assert.deepEqual(await treeDigest(storage), before);
    });
  });

  describe("refuses to build on a mirror it cannot verify", () => {
    it("refuses a tampered signature in the current index (attack: forged owner)", async () => {
      const { storage, keys } = await makeMirror();
      const text = new TextDecoder().decode(await readBytes(storage, "2.index.json"));
      await storage.write("2.index.json", text.replace('"name":"Alice"', '"name":"Alicx"'));
      const before = await treeDigest(storage);
      await assert.rejects(
        publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) }),
        (error: Error) => error instanceof SignatureError && /2\.index\.json/.test(error.message),
      );
      assert.deepEqual(await treeDigest(storage), before);
    });

    it("refuses a snapshot whose hash does not match the timestamp (attack: swapped snapshot)", async () => {
      const { storage, keys } = await makeMirror();
      const original = await readBytes(storage, "snapshot.json");
      await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
      await storage.write("snapshot.json", original);
      await assert.rejects(
        publishComponent(storage, helloPackage({ version: "v2.0.0" }), {
          key: keys.alice,
          now: day(2),
        }),
        (error: Error) =>
          error instanceof VerificationError && /snapshot\.json/.test(error.message),
      );
    });

    it("refuses a component manifest whose version does not follow the snapshot", async () => {
      const { storage, keys } = await makeMirror();
      await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
      // A validly signed v1 manifest stored under the name the snapshot points at for v1 is fine;
      // moving the v1 bytes to where a v2 is expected is a rollback.
      const state = await loadRepositoryState(storage);
      const snapshot = await readJson(storage, "snapshot.json");
      snapshot.signed.meta["/hello.json"].version = 2;
      assert.equal(state.snapshot.manifest.signed.meta["/hello.json"]?.version, 1);
      await storage.write("2.hello.json", await readBytes(storage, "1.hello.json"));
      const { encodeManifest } = await import("../../lib/format/encode_manifest.ts");
      const { buildTimestamp } = await import("../../lib/writer/build_timestamp.ts");
      const snapshotBytes = encodeManifest(snapshot.signed, [keys.role]);
      await storage.write("snapshot.json", snapshotBytes);
      const timestamp = buildTimestamp(state.timestamp.manifest.signed, snapshotBytes, {
        now: day(1),
      });
      await storage.write("timestamp.json", encodeManifest(timestamp, [keys.role]));
      const before = await treeDigest(storage);
      await assert.rejects(
        publishComponent(storage, helloPackage({ version: "v2.0.0" }), {
          key: keys.alice,
          now: day(2),
        }),
        (error: Error) =>
          error instanceof VerificationError &&
          /2\.hello\.json.*version is 1 but the snapshot says 2/.test(error.message),
      );
      assert.deepEqual(await treeDigest(storage), before);
    });

    it("refuses an index larger than the snapshot says (attack: endless data)", async () => {
      const { storage, keys } = await makeMirror();
      const text = new TextDecoder().decode(await readBytes(storage, "2.index.json"));
      await storage.write("2.index.json", text.replace('"name":"Alice"', '"name":"Alice Mallory"'));
      await assert.rejects(
        publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) }),
        (error: Error) =>
          error instanceof LengthMismatchError && /2\.index\.json.*larger/.test(error.message),
      );
    });

    it("refuses a malformed timestamp.json, naming the file", async () => {
      const { storage, keys } = await makeMirror();
      await storage.write("timestamp.json", "{not json");
      await assert.rejects(
        publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) }),
        /timestamp\.json/,
      );
    });

    it("refuses a directory that is not a mirror, saying how to make one", async () => {
      const { keys } = await makeMirror();
      await assert.rejects(
        publishComponent(new MemoryStorage("mem://empty"), helloPackage(), { key: keys.alice }),
        (error: Error) => error instanceof UsageError && /ferry mirror init/.test(error.message),
      );
    });
  });

  describe("crashes and concurrency", () => {
    it("leaves a mirror that verifies at its old state when the writer dies before the timestamp", async () => {
      const { storage, keys } = await makeMirror();
      await publishComponent(storage, helloPackage(), { key: keys.alice, now: day(1) });
      const crashing = new CrashingStorage(storage, "snapshot.json");
      await assert.rejects(
        publishComponent(crashing, helloPackage({ version: "v2.0.0" }), {
          key: keys.alice,
          now: day(2),
        }),
        /simulated crash/,
      );
      await storage.stat("2.hello.json"); // written before the crash, but nobody points at it
      const { result, updater } = await clientRefresh(storage, day(2));
      assert.equal(result.timestampVersion, 3);
      const hello = await updater.component("hello");
      assert.deepEqual(Object.keys(hello.signed.platforms["linux/amd64"] ?? {}), ["v1.0.0"]);
      // The lock was released, and the next publish skips the leftover 2.hello.json.
      const retry = await publishComponent(storage, helloPackage({ version: "v2.0.0" }), {
        key: keys.alice,
        now: day(3),
      });
      assert.ok(retry.files.includes("3.hello.json"), retry.files.join());
      await clientRefresh(storage, day(3));
    });

    it("refuses to write while another writer holds the lock, saying who holds it", async () => {
      const { storage, keys } = await makeMirror();
      await storage.write(
        "lock",
        JSON.stringify({
          pid: 4242,
          host: "build-server",
          since: "2026-01-01T00:00:00Z",
          token: "x",
        }),
      );
      const before = await treeDigest(storage);
      await assert.rejects(
        publishComponent(storage, helloPackage(), {
          key: keys.alice,
          now: day(1),
          lock: { waitMs: 0 },
        }),
        (error: Error) =>
          error instanceof StorageError && /pid 4242 on "build-server"/.test(error.message),
      );
      assert.deepEqual(await treeDigest(storage), before);
    });

    it("rejects a tarball source that changes while it is written", async () => {
      const { storage, keys } = await makeMirror();
      const source = tarball("original");
      const pkg = helloPackage({ tarball: { ...source, open: tarball("tampered").open } });
      await assert.rejects(
        publishComponent(storage, pkg, { key: keys.alice, now: day(1) }),
        HashMismatchError,
      );
      const { result } = await clientRefresh(storage, day(1));
      assert.equal(result.index.signed.components.hello, undefined);
    });
  });
});

/** Storage that fails (like a killed process) when asked to write `failAt`. */
class CrashingStorage extends MemoryStorage {
  constructor(readonly inner: Storage, readonly failAt: string) {
    super(inner.location);
  }
  override stat(path: string) {
    return this.inner.stat(path);
  }
  override read(path: string, options?: Parameters<Storage["read"]>[1]) {
    return this.inner.read(path, options);
  }
  override list(prefix: string) {
    return this.inner.list(prefix);
  }
  override write(path: string, data: WriteData, options?: WriteOptions) {
    if (path === this.failAt) return Promise.reject(new Error("simulated crash"));
    return this.inner.write(path, data, options);
  }
  override delete(path: string) {
    return this.inner.delete(path);
  }
}
