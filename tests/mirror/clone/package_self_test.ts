import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, test } from "node:test";
import { UsageError } from "../../../lib/errors.ts";
import { findSelfBinary } from "../../../lib/mirror/clone/find_self_binary.ts";
import { findSelfBinaries } from "../../../lib/mirror/clone/find_self_binaries.ts";
import { packageSelf } from "../../../lib/mirror/clone/package_self.ts";
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
  assert.equal(first.packed, true);
  assert.equal(again.packed, false, "the pack cache shows the target holds this build");
  assert.equal(again.written, false);
  assert.deepEqual(again.item, first.item, "released stays the first time");
  // Even with the cache gone, repacking gives identical bytes.
  await target.delete(".ferry-staging/self-linux-amd64.json");
  const repacked = await packageSelf(target, binary, { ...OPTIONS, previous: first.item });
  assert.equal(repacked.item.hashes.sha256, first.item.hashes.sha256);
});

test("packageSelf() packs a binary once for many targets through the cache beside it", async () => {
  const { dir, binary, target } = await setup();
  const packCache = nodePath.join(dir, "ferry.tar.gz");
  const first = await packageSelf(target, binary, { ...OPTIONS, packCache });
  assert.equal(first.packed, true);
  const other = new LocalStorage(nodePath.join(dir, "other-mirror"));
  const second = await packageSelf(other, binary, { ...OPTIONS, packCache });
  assert.equal(second.packed, false, "a new target gets the cached tarball, no gzip");
  assert.deepEqual(second.item, first.item);
  assert.deepEqual(
    await fs.readFile(nodePath.join(other.location, second.path)),
    await fs.readFile(nodePath.join(target.location, first.path)),
  );

  // A damaged cache is not trusted: the binary is packed again, right.
  const bytes = await fs.readFile(packCache);
  bytes[100] = bytes[100]! ^ 0xff;
  await fs.writeFile(packCache, bytes);
  const third = new LocalStorage(nodePath.join(dir, "third-mirror"));
  const repacked = await packageSelf(third, binary, { ...OPTIONS, packCache });
  assert.equal(repacked.packed, true);
  assert.equal(repacked.item.hashes.sha256, first.item.hashes.sha256);

  // Another build of the binary (new mtime) does not use the old entry either.
  await fs.writeFile(binary, "#!/bin/sh\necho I am a newer ferry\n", { mode: 0o700 });
  const fourth = new LocalStorage(nodePath.join(dir, "fourth-mirror"));
  const rebuilt = await packageSelf(fourth, binary, { ...OPTIONS, packCache });
  assert.equal(rebuilt.packed, true);
  assert.notEqual(rebuilt.item.hashes.sha256, first.item.hashes.sha256);
});

test("packageSelf() refuses an executable built for another platform", async () => {
  const { binary, target } = await setup();
  // The first 20 bytes of a little-endian ELF executable for EM_AARCH64.
  const elf = new Uint8Array(64);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  elf.set([2, 0, 0xb7, 0], 16);
  await fs.writeFile(binary, elf);
  await assert.rejects(packageSelf(target, binary, OPTIONS), (error: Error) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /as ferry for linux\/amd64: it is an executable for linux\/arm64/);
    return true;
  });
  const arm = await packageSelf(target, binary, { ...OPTIONS, arch: "arm64" });
  assert.equal(arm.path, "ferry-v0.1.0-linux-arm64.tar.gz");
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

test("findSelfBinaries() takes the host binary, then <os>-<arch>/ferry from the release directory", async () => {
  const { dir, binary } = await setup();
  for (const name of ["linux-arm64", "darwin-amd64", "linux-amd64"]) {
    await fs.mkdir(nodePath.join(dir, name));
    await fs.writeFile(nodePath.join(dir, name, "ferry"), "#!/bin/sh\n", { mode: 0o755 });
  }
  await fs.mkdir(nodePath.join(dir, "darwin-arm64")); // empty: no binary there
  await fs.mkdir(nodePath.join(dir, "not a platform"));
  const found = await findSelfBinaries({}, {
    host: "linux/amd64",
    binary,
    executable: "/bin/deno",
  });
  assert.deepEqual(found, {
    binaries: {
      "darwin/amd64": nodePath.join(dir, "darwin-amd64", "ferry"),
      "linux/amd64": binary,
      "linux/arm64": nodePath.join(dir, "linux-arm64", "ferry"),
    },
    packCaches: {
      "darwin/amd64": nodePath.join(dir, "darwin-amd64", "ferry.tar.gz"),
      "linux/amd64": nodePath.join(dir, "linux-amd64", "ferry.tar.gz"),
      "linux/arm64": nodePath.join(dir, "linux-arm64", "ferry.tar.gz"),
    },
    hostSource: "flag",
    directory: dir,
  });
  const fromEnv = await findSelfBinaries({ FERRY_SELF_BINARIES: dir }, {
    host: "linux/amd64",
    executable: "/usr/bin/deno",
  });
  assert.equal(fromEnv.binaries["linux/amd64"], nodePath.join(dir, "linux-amd64", "ferry"));
  assert.equal(fromEnv.hostSource, undefined);
});

test("findSelfBinaries() refuses a release directory that does not exist", async () => {
  const { dir } = await setup();
  await assert.rejects(
    findSelfBinaries({}, { host: "linux/amd64", directory: nodePath.join(dir, "nope") }),
    (error: Error) =>
      error instanceof UsageError && /Cannot read the ferry binaries/.test(error.message),
  );
  assert.deepEqual(
    await findSelfBinaries({}, { host: "linux/amd64", executable: "/usr/bin/deno" }),
    { binaries: {}, packCaches: {} },
  );
});
