import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { UsageError } from "../../../lib/errors.ts";
import { findSelfBinary } from "../../../lib/repo/clone/find_self_binary.ts";
import { packageSelf } from "../../../lib/repo/clone/package_self.ts";
import { LocalStorage } from "../../../lib/storage/local_storage.ts";

const NOW = new Date("2026-01-01T00:00:00Z");
const OPTIONS = { version: "v0.1.0", os: "linux", arch: "amd64", now: NOW };

const made: string[] = [];
after(async () => {
  for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
});

async function setup() {
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-self-test-"));
  made.push(dir);
  const binary = nodePath.join(dir, "some-build-name");
  await fs.writeFile(binary, "#!/bin/sh\necho I am ferry\n", { mode: 0o700 });
  return { dir, binary, target: new LocalStorage(nodePath.join(dir, "mirror")) };
}

test("packageSelf() packs the binary as an executable entry named ferry", async () => {
  const { dir, binary, target } = await setup();
  const packed = await packageSelf(target, binary, OPTIONS);
  assert.equal(packed.path, "ferry-v0.1.0-linux-amd64.tar.gz");
  assert.equal(packed.item.url, "/ferry-v0.1.0-linux-amd64.tar.gz");
  assert.equal(packed.item.entry, "ferry");
  const out = nodePath.join(dir, "out");
  await fs.mkdir(out);
  execFileSync("tar", ["xzf", nodePath.join(target.location, packed.path), "-C", out]);
  assert.deepEqual(await fs.readdir(out), ["ferry"]);
  assert.equal((await fs.stat(nodePath.join(out, "ferry"))).mode & 0o777, 0o755);
  assert.equal(execFileSync(nodePath.join(out, "ferry"), { encoding: "utf8" }), "I am ferry\n");
});

test("packageSelf() gives the same bytes for the same binary and keeps the previous item", async () => {
  const { binary, target } = await setup();
  const first = await packageSelf(target, binary, OPTIONS);
  const later = new Date("2026-06-01T00:00:00Z");
  const again = await packageSelf(target, binary, { ...OPTIONS, now: later, previous: first.item });
  assert.equal(again.written, false);
  assert.deepEqual(again.item, first.item, "released stays the first time");
  // Even with the cache gone, repacking gives identical bytes.
  await target.delete(".ferry-staging/self.json");
  const repacked = await packageSelf(target, binary, { ...OPTIONS, previous: first.item });
  assert.equal(repacked.item.hashes.sha256, first.item.hashes.sha256);
});

test("packageSelf() refuses a path that is not a file", async () => {
  const { dir, target } = await setup();
  await assert.rejects(packageSelf(target, dir, OPTIONS), UsageError);
});

test("findSelfBinary() takes the flag, then FERRY_SELF_BINARY, then a compiled executable", () => {
  assert.equal(findSelfBinary({}, "/opt/ferry", "/usr/bin/deno")?.source, "flag");
  assert.equal(
    findSelfBinary({ FERRY_SELF_BINARY: "/x/ferry" }, undefined, "/bin/bun")?.path,
    "/x/ferry",
  );
  assert.deepEqual(findSelfBinary({}, undefined, "/usr/local/bin/ferry"), {
    path: "/usr/local/bin/ferry",
    source: "executable",
  });
  for (const interpreter of ["/usr/bin/deno", "/work/node_modules/.bin/bun", "/usr/bin/node"]) {
    assert.equal(findSelfBinary({}, undefined, interpreter), undefined, interpreter);
  }
});
