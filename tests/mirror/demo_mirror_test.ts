import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { ensureDemoMirror } from "../../lib/mirror/demo_mirror.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { readBytes } from "../../lib/storage/read_bytes.ts";
import { clientRefresh, tempDir } from "../_simulator.ts";

const now = new Date("2026-03-01T00:00:00Z");

describe("ensureDemoMirror()", () => {
  it("builds a verified mirror with hello v1.0.0 and v1.1.0 on four platforms, once", async () => {
    const { dir, remove } = await tempDir("ferry-demo");
    try {
      const target = nodePath.join(dir, "home", "demo-mirror");
      assert.deepEqual(await ensureDemoMirror(target, { now }), { dir: target, created: true });
      assert.deepEqual(await ensureDemoMirror(target, { now }), { dir: target, created: false });
      // Built beside the target and renamed: no temporary directory is left behind.
      assert.deepEqual(await fs.readdir(nodePath.join(dir, "home")), ["demo-mirror"]);

      const storage = new LocalStorage(target);
      const { result, updater } = await clientRefresh(storage, now);
      assert.equal(result.index.signed.components.hello?.owner, "demo");
      const hello = await updater.component("hello");
      for (const platform of ["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"]) {
        assert.deepEqual(Object.keys(hello.signed.platforms[platform] ?? {}), ["v1.0.0", "v1.1.0"]);
      }
      const keyFiles = await fs.readdir(nodePath.join(target, "keys"));
      assert.equal(keyFiles.length, 7);
      assert.ok(keyFiles.some((name) => name.endsWith("-demo.json")));

      // The entry is a POSIX shell script that prints hello and its arguments.
      const item = hello.signed.platforms["linux/amd64"]!["v1.1.0"]!;
      const downloads = new MemoryStorage();
      await updater.fetchVerifiedTarball(item, downloads, "hello.tar.gz");
      const work = nodePath.join(dir, "x");
      await fs.mkdir(work);
      await fs.writeFile(nodePath.join(work, "h.tgz"), await readBytes(downloads, "hello.tar.gz"));
      execFileSync("tar", ["-xzf", "h.tgz"], { cwd: work });
      const output = execFileSync("sh", [nodePath.join(work, item.entry), "ferry", "world"]);
      assert.equal(output.toString(), "hello ferry world\n");
    } finally {
      await remove();
    }
  });

  it("leaves an existing mirror alone", async () => {
    const { dir, remove } = await tempDir("ferry-demo");
    try {
      await fs.writeFile(nodePath.join(dir, "root.json"), "mine");
      assert.deepEqual(await ensureDemoMirror(dir, { now }), { dir, created: false });
      assert.equal(await fs.readFile(nodePath.join(dir, "root.json"), "utf8"), "mine");
    } finally {
      await remove();
    }
  });
});
