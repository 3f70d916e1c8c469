import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { exitCodeForAll } from "../../../lib/cli/exit_codes.ts";
import { DownloadError, UsageError, VerificationError } from "../../../lib/errors.ts";
import { CLONE_OWNER_ID } from "../../../lib/mirror/clone/clone_mirror.ts";
import { cloneMirror } from "./_clone_with_test_keys.ts";
import { MirrorUpdater } from "../../../lib/trust/mirror_updater.ts";
import { loadRepositoryState } from "../../../lib/trust/load_verified_state.ts";
import { serveHttp } from "../../../lib/runtime.ts";
import { createMirrorHandler } from "../../../lib/server/mirror_server.ts";
import { HttpStorage } from "../../../lib/storage/http_storage.ts";
import { LocalStorage } from "../../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import { makeSourceMirror, type SourceMirror, T0 } from "../../_simulator.ts";

const TIMEOUT = { timeout: 120_000 };

const made: string[] = [];
after(async () => {
  for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
});

async function newTarget(): Promise<{ dir: string; storage: LocalStorage }> {
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-clone-target-"));
  made.push(dir);
  return { dir, storage: new LocalStorage(dir) };
}

/** A client of the clone: trusts its root.json and keeps a manifest cache between runs. */
function client(target: LocalStorage, rootBytes: Uint8Array, cache: MemoryStorage) {
  return new MirrorUpdater(target, { trustedRoot: rootBytes, cache, now: () => T0 });
}

describe("cloneMirror()", () => {
  let source: SourceMirror;
  before(async () => {
    source = await makeSourceMirror({ populate: true });
  }, TIMEOUT);
  after(async () => await source?.remove(), TIMEOUT);

  test("cloneMirror() builds a new signed repository that a client verifies", TIMEOUT, async () => {
    const { dir, storage } = await newTarget();
    const report = await cloneMirror(source.storage, storage, {
      versions: ["v1.2.0"],
      os: ["linux"],
      now: T0,
    });
    assert.equal(report.created, true);
    const rootBytes = await fs.readFile(nodePath.join(dir, "root.json"));
    assert.deepEqual(await fs.readFile(nodePath.join(dir, "1.root.json")), rootBytes);
    const updater = client(storage, rootBytes, new MemoryStorage());
    const { index } = await updater.refresh();
    assert.deepEqual(Object.keys(index.signed.owners), [CLONE_OWNER_ID]);
    const tidb = (await updater.component("tidb")).signed;
    const usable = Object.entries(tidb.platforms).flatMap(([p, versions]) =>
      Object.entries(versions).filter(([, i]) => !i.yanked).map(([v]) => `${v} ${p}`)
    ).sort();
    assert.deepEqual(usable, ["v1.2.0 linux/amd64", "v1.2.0 linux/arm64"]);
    assert.equal(tidb.platforms["linux/amd64"]!["v1.0.0"]!.yanked, true, "listed, yanked");
    assert.equal(tidb.platforms["darwin/amd64"], undefined, "darwin was not asked for");
    assert.ok(tidb.expires.startsWith("2075"), `50 years: ${tidb.expires}`);
    for (const file of ["local_install.sh", "install.sh"]) {
      assert.equal((await fs.stat(nodePath.join(dir, file))).mode & 0o755, 0o755);
    }
    const keys = await fs.readdir(nodePath.join(dir, "keys"));
    assert.equal(keys.filter((k) => k.endsWith(`-${CLONE_OWNER_ID}.json`)).length, 1);
    assert.equal(keys.length, 7, "3 root, index, snapshot, timestamp and the owner");
  });

  test(
    "cloneMirror() refreshes so that a client trusting the first clone accepts it (TiUP #2018)",
    TIMEOUT,
    async () => {
      const { dir, storage } = await newTarget();
      await cloneMirror(source.storage, storage, { components: { pd: ["all"] }, now: T0 });
      const rootBytes = await fs.readFile(nodePath.join(dir, "root.json"));
      const keys = (await fs.readdir(nodePath.join(dir, "keys"))).sort();
      const cache = new MemoryStorage();
      const before = client(storage, rootBytes, cache);
      const first = await before.refresh();
      const pdBefore = (await before.component("pd")).signed.version;
      {
        // Same keys, no change: nothing written.
        const same = await cloneMirror(source.storage, storage, {
          components: { pd: ["all"] },
          now: T0,
        });
        assert.equal(same.changed, false);
        assert.deepEqual(same.downloaded, []);
        assert.equal(same.timestampVersion, first.timestampVersion);

        await source.publish("pd", "v1.3.0", "linux/amd64");
        const refreshed = await cloneMirror(source.storage, storage, {
          components: { pd: ["all"] },
          now: T0,
        });
        assert.deepEqual(refreshed.downloaded, ["pd-v1.3.0-linux-amd64.tar.gz"]);
        assert.deepEqual((await fs.readdir(nodePath.join(dir, "keys"))).sort(), keys);
        assert.deepEqual(await fs.readFile(nodePath.join(dir, "root.json")), rootBytes);
        // The client with its cache from before: no rollback, no signature error, new version.
        const updater = client(storage, rootBytes, cache);
        const second = await updater.refresh();
        assert.ok(second.timestampVersion > first.timestampVersion);
        const pd = (await updater.component("pd")).signed;
        assert.ok(pd.version > pdBefore);
        assert.equal(pd.platforms["linux/amd64"]!["v1.3.0"]!.yanked, false);
      }
    },
  );

  test(
    "cloneMirror() keeps the nightly pointer when the nightly is cloned (TiUP #2522)",
    TIMEOUT,
    async () => {
      const { storage } = await newTarget();
      await cloneMirror(source.storage, storage, { components: { ctl: ["nightly"] }, now: T0 });
      const state = await loadRepositoryState(storage, { now: T0 });
      const updater = new MirrorUpdater(storage, {
        trustedRoot: state.root.manifest.fileBytes,
        now: () => T0,
      });
      await updater.refresh();
      assert.equal((await updater.component("ctl")).signed.nightly, "v1.3.0-nightly");
    },
  );

  test(
    "cloneMirror() with --prefix takes every matching version (broken in TiUP)",
    TIMEOUT,
    async () => {
      const { storage } = await newTarget();
      const report = await cloneMirror(source.storage, storage, {
        components: { tidb: ["v1.1", "v1.2"] },
        prefix: true,
        os: ["linux"],
        arch: ["amd64"],
        now: T0,
      });
      assert.deepEqual(report.downloaded.filter((p) => p.startsWith("tidb")), [
        "tidb-v1.1.0-linux-amd64.tar.gz",
        "tidb-v1.2.0-linux-amd64.tar.gz",
      ]);
    },
  );

  test(
    "cloneMirror() with nothing selected writes metadata (and the tiup installers) only",
    TIMEOUT,
    async () => {
      const { storage } = await newTarget();
      const report = await cloneMirror(source.storage, storage, { now: T0 });
      // TIUP-FORMAT.md §6.1: no versions and no --full → metadata plus the tiup tarballs (the
      // source's publisher placed tiup-<os>-<arch>.tar.gz, as TiUP's copyTiUP does).
      assert.deepEqual(report.downloaded, ["tiup-linux-amd64.tar.gz"]);
      assert.deepEqual(report.components, []);
      await loadRepositoryState(storage, { now: T0 });
    },
  );

  test("cloneMirror() refuses an unknown component before writing anything", TIMEOUT, async () => {
    const { dir, storage } = await newTarget();
    await assert.rejects(
      cloneMirror(source.storage, storage, { components: { nosuch: ["all"] }, now: T0 }),
      UsageError,
    );
    assert.deepEqual(await fs.readdir(dir), []);
  });

  test(
    "cloneMirror() refuses a source whose root does not sign its timestamp (wrong --source-root)",
    TIMEOUT,
    async () => {
      const stranger = await makeSourceMirror();
      try {
        const { storage } = await newTarget();
        await assert.rejects(
          cloneMirror(source.storage, storage, {
            trustedRoot: await fs.readFile(nodePath.join(stranger.dir, "root.json")),
            components: { pd: ["all"] },
            now: T0,
          }),
          VerificationError,
        );
      } finally {
        await stranger.remove();
      }
    },
  );

  test(
    "cloneMirror() reports a tarball whose server never answers as a network failure (exit 4), not a verification one",
    TIMEOUT,
    async () => {
      const slow = await makeSourceMirror();
      const stalled: Array<(response: Response) => void> = [];
      try {
        const published = await slow.publish("pd", "v9.0.0", "linux/amd64");
        const handler = createMirrorHandler(slow.storage);
        const server = await serveHttp((request, info) => {
          if (new URL(request.url).pathname !== `/${published.path}`) {
            return handler(request, info);
          }
          return new Promise<Response>((resolve) => stalled.push(resolve));
        }, { hostname: "127.0.0.1", port: 0 });
        try {
          const source = new HttpStorage(server.url, { headersTimeoutMs: 500, retries: 0 });
          const { storage } = await newTarget();
          const report = await cloneMirror(source, storage, {
            components: { pd: ["all"] },
            now: T0,
          });
          assert.deepEqual(report.failed.map((f) => f.path), [published.path]);
          const error = report.failed[0]!.error;
          assert.ok(
            error instanceof DownloadError && !(error instanceof VerificationError),
            String(error),
          );
          assert.equal(exitCodeForAll(report.failed.map((f) => f.error)), 4);
        } finally {
          for (const resolve of stalled) resolve(new Response("late", { status: 503 }));
          await server.shutdown(1000);
        }
      } finally {
        await slow.remove();
      }
    },
  );

  test(
    "cloneMirror() refuses a tampered source tarball and does not offer that version",
    TIMEOUT,
    async () => {
      const bad = await makeSourceMirror();
      try {
        const published = await bad.publish("pd", "v9.0.0", "linux/amd64");
        const file = nodePath.join(bad.dir, published.path);
        const bytes = await fs.readFile(file);
        bytes[0] = bytes[0]! ^ 0xff;
        await fs.writeFile(file, bytes);
        const { dir, storage } = await newTarget();
        const report = await cloneMirror(bad.storage, storage, {
          components: { pd: ["all"] },
          now: T0,
        });
        assert.equal(report.failed.length, 1);
        assert.match(report.failed[0]!.error.message, /sha256/);
        assert.ok(report.failed[0]!.error instanceof VerificationError, "the error object is kept");
        await assert.rejects(fs.stat(nodePath.join(dir, published.path)));
        const state = await loadRepositoryState(storage, { now: T0 });
        assert.equal(state.index.manifest.signed.components.pd, undefined, "nothing usable");
      } finally {
        await bad.remove();
      }
    },
  );

  test(
    "cloneMirror() packs each ferry binary once and hard-links the latest copy to it",
    TIMEOUT,
    async () => {
      const { dir, storage } = await newTarget();
      const binaries: Record<string, string> = {};
      for (const platform of ["linux/amd64", "linux/arm64"]) {
        const file = nodePath.join(
          dir,
          "..",
          `ferry-fake-${platform.replace("/", "-")}-${Date.now()}`,
        );
        await fs.writeFile(file, `#!/bin/sh\necho fake ferry ${platform}\n`, { mode: 0o755 });
        binaries[platform] = file;
      }
      try {
        const options = {
          components: { pd: ["latest"] },
          os: ["linux"],
          arch: ["amd64", "arm64"],
          now: T0,
          self: { version: "v0.1.0", binaries },
        };
        const first = await cloneMirror(source.storage, storage, options);
        assert.deepEqual(first.packed, ["linux/amd64", "linux/arm64"]);
        assert.deepEqual(first.ferryMissing, []);
        const script = await fs.readFile(nodePath.join(dir, "local_install.sh"), "utf8");
        const before = new Map<string, number>();
        for (const name of ["linux-amd64", "linux-arm64"]) {
          const latest = nodePath.join(dir, `ferry-${name}.tar.gz`);
          const versioned = nodePath.join(dir, `ferry-v0.1.0-${name}.tar.gz`);
          assert.deepEqual(await fs.readFile(latest), await fs.readFile(versioned));
          assert.equal((await fs.stat(latest)).ino, (await fs.stat(versioned)).ino, "one file");
          before.set(name, (await fs.stat(versioned)).mtimeMs);
          assert.match(script, new RegExp(`ferry-${name}\\.tar\\.gz\\) echo [0-9a-f]{64}`));
        }
        const out = nodePath.join(dir, "..", `unpacked-${Date.now()}`);
        await fs.mkdir(out);
        try {
          execFileSync("tar", ["xzf", nodePath.join(dir, "ferry-linux-arm64.tar.gz"), "-C", out]);
          assert.match(await fs.readFile(nodePath.join(out, "ferry"), "utf8"), /linux\/arm64/);
        } finally {
          await fs.rm(out, { recursive: true, force: true });
        }

        // Even with the journal lost, a refresh packs nothing and keeps one file per platform.
        await fs.rm(nodePath.join(dir, ".ferry-staging", "verified.json"));
        const again = await cloneMirror(source.storage, storage, options);
        assert.deepEqual(again.packed, [], "the target already holds these builds");
        assert.equal(again.changed, false, "the same binary packs to the same tarball");
        assert.deepEqual(
          (await fs.readdir(dir)).filter((n) => n.startsWith(".ferry-tmp-")),
          [],
          "no temporaries left",
        );
        for (const [name, mtime] of before) {
          const versioned = nodePath.join(dir, `ferry-v0.1.0-${name}.tar.gz`);
          assert.equal((await fs.stat(versioned)).mtimeMs, mtime, `${name} not rewritten`);
          const latest = nodePath.join(dir, `ferry-${name}.tar.gz`);
          assert.equal((await fs.stat(latest)).ino, (await fs.stat(versioned)).ino, name);
        }
      } finally {
        for (const file of Object.values(binaries)) await fs.rm(file, { force: true });
      }
    },
  );

  test(
    "cloneMirror() reports each selected platform it has no ferry binary for",
    TIMEOUT,
    async () => {
      const { dir, storage } = await newTarget();
      const binary = nodePath.join(dir, "..", `ferry-fake-${Date.now()}`);
      await fs.writeFile(binary, "#!/bin/sh\necho fake ferry\n", { mode: 0o755 });
      try {
        const report = await cloneMirror(source.storage, storage, {
          os: ["linux", "darwin"],
          arch: ["amd64"],
          now: T0,
          self: { version: "v0.1.0", binaries: { "linux/amd64": binary }, searched: "/opt/ferry" },
        });
        assert.deepEqual(report.ferryMissing, ["darwin/amd64"]);
        assert.ok(
          report.notes.some((n) =>
            n.includes("No ferry binary for darwin/amd64") &&
            n.includes('"/opt/ferry/darwin-amd64/ferry"')
          ),
          report.notes.join("\n"),
        );
        await assert.rejects(fs.stat(nodePath.join(dir, "ferry-darwin-amd64.tar.gz")));
        await fs.stat(nodePath.join(dir, "ferry-linux-amd64.tar.gz"));
      } finally {
        await fs.rm(binary, { force: true });
      }
    },
  );
});
