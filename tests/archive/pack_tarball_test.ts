import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { extractTarball } from "../../lib/archive/extract_tarball.ts";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { NotFoundError, PathError } from "../../lib/errors.ts";

let root: string;
let source: string;

beforeEach(async () => {
  root = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-pack-test-"));
  source = nodePath.join(root, "build");
  await fs.mkdir(nodePath.join(source, "dir", "sub"), { recursive: true });
  await fs.writeFile(nodePath.join(source, "hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  // Written out of order so that sorting is visible.
  for (const name of ["zeta", "alpha", "Mid", "beta"]) {
    await fs.writeFile(nodePath.join(source, "dir", name), name);
  }
  await fs.writeFile(nodePath.join(source, "dir", "sub", "deep"), "deep");
  await fs.symlink("alpha", nodePath.join(source, "dir", "link"));
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Entry names and header fields of an uncompressed ustar/pax stream (enough for our archives). */
function listTar(tar: Uint8Array): { name: string; uid: number; uname: string }[] {
  const entries: { name: string; uid: number; uname: string }[] = [];
  const text = (start: number, length: number) =>
    new TextDecoder().decode(tar.subarray(start, start + length)).replace(/\0.*$/s, "");
  let offset = 0;
  while (offset + 512 <= tar.length && tar[offset] !== 0) {
    const size = parseInt(text(offset + 124, 12).trim() || "0", 8);
    const type = text(offset + 156, 1);
    const prefix = text(offset + 345, 155);
    const name = (prefix ? `${prefix}/` : "") + text(offset, 100);
    if (type !== "x" && type !== "g") {
      entries.push({
        name,
        uid: parseInt(text(offset + 108, 8).trim() || "0", 8),
        uname: text(offset + 265, 32),
      });
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

describe("packTarball()", () => {
  it("packs targets like tar -czf with -C, walking directories in sorted order", async () => {
    const tar = gunzipSync(await bytesOf(await packTarball(["hello", "dir"], { cwd: source })));
    assert.deepEqual(listTar(tar).map((e) => e.name), [
      "hello",
      "dir/",
      "dir/Mid",
      "dir/alpha",
      "dir/beta",
      "dir/link",
      "dir/sub/",
      "dir/sub/deep",
      "dir/zeta",
    ]);
  });

  it("stores no owner ids or names", async () => {
    const tar = gunzipSync(await bytesOf(await packTarball(["hello"], { cwd: source })));
    for (const entry of listTar(tar)) {
      assert.equal(entry.uid, 0);
      assert.equal(entry.uname, "");
    }
  });

  it("gives byte-identical archives for identical input when mtime is fixed", async () => {
    const mtime = new Date("2024-01-01T00:00:00Z");
    const first = await bytesOf(await packTarball(["."], { cwd: source, mtime }));
    await fs.utimes(nodePath.join(source, "hello"), new Date(), new Date());
    const second = await bytesOf(await packTarball(["."], { cwd: source, mtime }));
    assert.deepEqual(first, second);
  });

  it("round-trips through extractTarball, keeping the executable bit and symlinks", async () => {
    const file = nodePath.join(root, "out.tar.gz");
    await fs.writeFile(file, await bytesOf(await packTarball(["."], { cwd: source })));
    const target = nodePath.join(root, "unpacked");
    await extractTarball(file, target);
    assert.equal(
      await fs.readFile(nodePath.join(target, "hello"), "utf8"),
      "#!/bin/sh\necho hello\n",
    );
    assert.equal((await fs.stat(nodePath.join(target, "hello"))).mode & 0o111, 0o111);
    assert.equal(await fs.readlink(nodePath.join(target, "dir", "link")), "alpha");
    assert.equal(await fs.readFile(nodePath.join(target, "dir", "sub", "deep"), "utf8"), "deep");
  });

  it("leaves out what exclude() names, and everything below it", async () => {
    const tar = gunzipSync(
      await bytesOf(await packTarball(["."], { cwd: source, exclude: (path) => path === "dir" })),
    );
    assert.deepEqual(listTar(tar).map((e) => e.name), ["hello"]);
  });

  it("throws NotFoundError for a missing target before producing any byte", async () => {
    await assert.rejects(packTarball(["hello", "missing"], { cwd: source }), NotFoundError);
  });

  it("refuses an absolute target", async () => {
    await assert.rejects(packTarball([nodePath.join(source, "hello")]), PathError);
  });

  it("refuses a target that leaves the packing directory", async () => {
    await assert.rejects(packTarball(["../build/hello"], { cwd: source }), PathError);
    await assert.rejects(packTarball(["dir/../../x"], { cwd: source }), PathError);
  });

  it("refuses an empty target list", async () => {
    await assert.rejects(packTarball([], { cwd: source }), RangeError);
  });
});
