import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { listTarball } from "../../lib/archive/list_tarball.ts";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-list-tarball-"));
  try {
    await run(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test("listTarball() lists files, directories and links by normalised path", async () => {
  await withDir(async (dir) => {
    await fs.mkdir(nodePath.join(dir, "pkg", "bin"), { recursive: true });
    await fs.writeFile(nodePath.join(dir, "pkg", "bin", "tool"), "x", { mode: 0o755 });
    await fs.writeFile(nodePath.join(dir, "pkg", "README"), "x", { mode: 0o644 });
    await fs.symlink("bin/tool", nodePath.join(dir, "pkg", "tool"));
    const path = nodePath.join(dir, "t.tar.gz");
    await fs.writeFile(path, await collectBytes(await packTarball(["."], { cwd: `${dir}/pkg` })));
    const entries = await listTarball(path);
    assert.deepEqual(entries.get("bin/tool"), { path: "bin/tool", kind: "file", mode: 0o755 });
    assert.equal(entries.get("README")?.mode, 0o644);
    assert.equal(entries.get("bin")?.kind, "directory");
    assert.equal(entries.get("tool")?.kind, "symlink");
    assert.ok(![...entries.keys()].some((p) => p.startsWith("./") || p.endsWith("/")));
  });
});

test("listTarball() refuses what is not a gzip'd tarball with SyntaxError", async () => {
  await withDir(async (dir) => {
    await fs.writeFile(nodePath.join(dir, "f"), "x");
    const real = await collectBytes(await packTarball(["f"], { cwd: dir }));
    const cases: Array<[string, Uint8Array]> = [
      ["plain text", new TextEncoder().encode("pretend tarball")],
      ["gzip of text", gzipSync("not a tar stream at all, just words")],
      ["a truncated gzip", real.slice(0, 20)],
      ["an empty file", new Uint8Array()],
    ];
    for (const [what, bytes] of cases) {
      const path = nodePath.join(dir, "bad.tar.gz");
      await fs.writeFile(path, bytes);
      await assert.rejects(listTarball(path), SyntaxError, what);
    }
  });
});

test("listTarball() passes a missing file's error through", async () => {
  await assert.rejects(
    listTarball(nodePath.join(tmpdir(), "ferry-no-such-tarball.tar.gz")),
    (error) => (error as { code?: string }).code === "ENOENT",
  );
});
