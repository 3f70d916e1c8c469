import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NotFoundError, PathError, StorageError } from "../../lib/errors.ts";
import { runtimeName } from "../../lib/runtime.ts";
import { LocalStorage, TEMP_PREFIX } from "../../lib/storage/local_storage.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { defineStorageConformanceTests } from "./_conformance.ts";

async function tempDir(): Promise<string> {
  return await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-local-"));
}

async function leaveTempFile(root: string, path: string, partial: Uint8Array): Promise<void> {
  // What LocalStorage.write leaves when killed before its rename: a partial temp file next to
  // the target.
  const dir = nodePath.dirname(nodePath.join(root, path));
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(
    nodePath.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`),
    partial,
  );
}

defineStorageConformanceTests(
  "LocalStorage",
  async () => {
    const root = await tempDir();
    const storage = new LocalStorage(nodePath.join(root, "mirror"));
    return {
      reader: storage,
      writer: storage,
      seed: async (path, data) => void (await storage.write(path, data)),
      leaveKilledWrite: (path, partial) => leaveTempFile(storage.location, path, partial),
      modeOf: async (path) => (await fs.stat(nodePath.join(storage.location, path))).mode,
      close: () => fs.rm(root, { recursive: true, force: true }),
    };
  },
  { canList: true, writable: true, tempFiles: true },
);

/** A mirror root with a secret beside it and symlinks inside it pointing at the secret. */
async function symlinkFixture() {
  const base = await tempDir();
  const root = nodePath.join(base, "mirror");
  const outside = nodePath.join(base, "outside");
  await fs.mkdir(root);
  await fs.mkdir(outside);
  await fs.writeFile(nodePath.join(outside, "secret.txt"), "secret");
  await fs.writeFile(nodePath.join(root, "inside.txt"), "inside");
  await fs.symlink(nodePath.join(outside, "secret.txt"), nodePath.join(root, "file-link"));
  await fs.symlink(outside, nodePath.join(root, "dir-link"));
  await fs.symlink("../outside", nodePath.join(root, "relative-dir-link"));
  await fs.symlink("inside.txt", nodePath.join(root, "good-link"));
  await fs.symlink("loop-b", nodePath.join(root, "loop-a"));
  await fs.symlink("loop-a", nodePath.join(root, "loop-b"));
  return {
    storage: new LocalStorage(root),
    root,
    outside,
    remove: () => fs.rm(base, { recursive: true, force: true }),
  };
}

test("LocalStorage: a symlinked file pointing outside the root is refused", async () => {
  const f = await symlinkFixture();
  try {
    await assert.rejects(f.storage.stat("file-link"), PathError);
    await assert.rejects(f.storage.read("file-link"), PathError);
  } finally {
    await f.remove();
  }
});

test("LocalStorage: reading through a symlinked directory pointing outside is refused", async () => {
  const f = await symlinkFixture();
  try {
    for (const path of ["dir-link/secret.txt", "relative-dir-link/secret.txt"]) {
      await assert.rejects(f.storage.stat(path), PathError, path);
      await assert.rejects(f.storage.read(path), PathError, path);
    }
  } finally {
    await f.remove();
  }
});

test("LocalStorage: writing through a symlinked directory pointing outside is refused", async () => {
  const f = await symlinkFixture();
  try {
    for (
      const path of [
        "dir-link/secret.txt",
        "dir-link/new.txt",
        "dir-link/deeper/new.txt",
        "relative-dir-link/new.txt",
      ]
    ) {
      await assert.rejects(f.storage.write(path, "pwned"), PathError, path);
    }
    assert.equal(await fs.readFile(nodePath.join(f.outside, "secret.txt"), "utf8"), "secret");
    assert.deepEqual((await fs.readdir(f.outside)).sort(), ["secret.txt"]);
  } finally {
    await f.remove();
  }
});

test("LocalStorage: deleting through a symlink pointing outside is refused", async () => {
  const f = await symlinkFixture();
  try {
    await assert.rejects(f.storage.delete("dir-link/secret.txt"), PathError);
    await assert.rejects(f.storage.delete("file-link"), PathError);
    assert.equal(await fs.readFile(nodePath.join(f.outside, "secret.txt"), "utf8"), "secret");
  } finally {
    await f.remove();
  }
});

test("LocalStorage: writing over a symlink replaces the link, not its target", async () => {
  const f = await symlinkFixture();
  try {
    await f.storage.write("file-link", "replaced");
    assert.equal(await fs.readFile(nodePath.join(f.outside, "secret.txt"), "utf8"), "secret");
    assert.equal(await fs.readFile(nodePath.join(f.root, "file-link"), "utf8"), "replaced");
    assert.ok(!(await fs.lstat(nodePath.join(f.root, "file-link"))).isSymbolicLink());
  } finally {
    await f.remove();
  }
});

test("LocalStorage: list() does not follow symlinks out of the root", async () => {
  const f = await symlinkFixture();
  try {
    const listed: string[] = [];
    for await (const entry of f.storage.list("")) listed.push(entry.path);
    assert.ok(
      !listed.some((p) => p.startsWith("dir-link") || p.startsWith("relative")),
      `${listed}`,
    );
    assert.ok(listed.includes("inside.txt"));
  } finally {
    await f.remove();
  }
});

test("LocalStorage: a symlink that stays inside the root is followed", async () => {
  const f = await symlinkFixture();
  try {
    const object = await f.storage.read("good-link");
    assert.equal(new TextDecoder().decode(await collectBytes(object.body)), "inside");
  } finally {
    await f.remove();
  }
});

test("LocalStorage: stat() through a link names the key it resolves to (resolvedPath)", async () => {
  const f = await symlinkFixture();
  try {
    await fs.mkdir(nodePath.join(f.root, "keys"));
    await fs.writeFile(nodePath.join(f.root, "keys", "a.json"), "key");
    await fs.symlink("keys", nodePath.join(f.root, "pubkeys"));
    await fs.symlink(".", nodePath.join(f.root, "self"));
    assert.equal((await f.storage.stat("good-link")).resolvedPath, "inside.txt");
    assert.equal((await f.storage.stat("pubkeys/a.json")).resolvedPath, "keys/a.json");
    assert.equal(f.storage.statSync("self/self/keys/a.json").resolvedPath, "keys/a.json");
    assert.equal((await f.storage.read("self/inside.txt")).stat.resolvedPath, "inside.txt");
    assert.equal("resolvedPath" in (await f.storage.stat("inside.txt")), false);
  } finally {
    await f.remove();
  }
});

test("LocalStorage: a symlink loop is refused, not followed forever", async () => {
  const f = await symlinkFixture();
  try {
    const error = await f.storage.stat("loop-a").catch((e) => e);
    assert.ok(error instanceof PathError || error instanceof NotFoundError, String(error));
  } finally {
    await f.remove();
  }
});

test("LocalStorage: a missing root reads as empty and is created by the first write", async () => {
  const base = await tempDir();
  try {
    const storage = new LocalStorage(nodePath.join(base, "not", "yet"));
    await assert.rejects(storage.stat("a.json"), NotFoundError);
    const listed = [];
    for await (const entry of storage.list("")) listed.push(entry);
    assert.deepEqual(listed, []);
    await storage.write("a.json", "{}");
    assert.equal((await storage.stat("a.json")).size, 2);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test("LocalStorage: writing below an existing file fails with a StorageError", async () => {
  const base = await tempDir();
  try {
    const storage = new LocalStorage(base);
    await storage.write("a", "file");
    const error = await storage.write("a/b.json", "{}").catch((e) => e);
    assert.ok(error instanceof StorageError, String(error));
    assert.equal(await fs.readFile(nodePath.join(base, "a"), "utf8"), "file");
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test("LocalStorage: a writer killed with SIGKILL mid-write leaves no visible object", async () => {
  const base = await tempDir();
  try {
    const storage = new LocalStorage(base);
    await storage.write("bin/other.json", "{}");
    const script = fileURLToPath(new URL("./_killed_writer.ts", import.meta.url));
    const argv = runtimeName() === "deno" ? ["run", "-A", script] : [script];
    const child = spawn(process.execPath, [...argv, base, "bin/big.tar.gz"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    // Wait (bounded) until the child has written real bytes into its temp file.
    let temp: string | undefined;
    for (let i = 0; i < 300 && temp === undefined; i++) {
      const names = await fs.readdir(nodePath.join(base, "bin")).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.startsWith(TEMP_PREFIX))) {
        const info = await fs.stat(nodePath.join(base, "bin", name)).catch(() => undefined);
        if (info && info.size > 0) temp = name;
      }
      if (temp === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill("SIGKILL");
    await exited;
    assert.ok(temp, `the writer never started writing: ${stderr}`);
    // The partial temp file is still on disk, but nobody sees it.
    assert.ok((await fs.readdir(nodePath.join(base, "bin"))).includes(temp!));
    await assert.rejects(storage.stat("bin/big.tar.gz"), NotFoundError);
    const listed: string[] = [];
    for await (const entry of storage.list("")) listed.push(entry.path);
    assert.deepEqual(listed, ["bin/other.json"]);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test("LocalStorage.tryLock() is flock(2): it excludes a second open and flock(1) until released", async () => {
  const root = await tempDir();
  try {
    const storage = new LocalStorage(root);
    const file = nodePath.join(root, "lock");
    const held = await storage.tryLock!("lock");
    assert.ok(held);
    assert.equal(await storage.tryLock!("lock"), undefined);
    const { spawnSync } = await import("node:child_process");
    assert.equal(spawnSync("flock", ["-n", file, "true"]).status, 1);
    await held.note("who holds it");
    assert.equal(await fs.readFile(file, "utf8"), "who holds it");
    await held.release();
    assert.equal(spawnSync("flock", ["-n", file, "true"]).status, 0);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const again = await storage.tryLock!("lock");
    assert.ok(again);
    await again.release();
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test("LocalStorage.sweepTempFiles() removes only temp files older than the cut-off", async () => {
  const root = await tempDir();
  try {
    const storage = new LocalStorage(root);
    await storage.write("a/b.json", "{}");
    await leaveTempFile(root, "a/b.json", new Uint8Array([1]));
    await leaveTempFile(root, "c.json", new Uint8Array([2]));
    const old = new Date(Date.now() - 7200_000);
    const temps = async () =>
      (await fs.readdir(root, { recursive: true })).filter((n) => n.includes(TEMP_PREFIX)).sort();
    const [first] = await temps();
    await fs.utimes(nodePath.join(root, first!), old, old);
    const removed = await storage.sweepTempFiles({ before: new Date(Date.now() - 3600_000) });
    assert.deepEqual(removed, [first]);
    assert.equal((await temps()).length, 1);
    assert.equal(await fs.readFile(nodePath.join(root, "a", "b.json"), "utf8"), "{}");
    assert.deepEqual(
      await new LocalStorage(nodePath.join(root, "nope")).sweepTempFiles({ before: new Date() }),
      [],
    );
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test("LocalStorage: copy() onto a name that is already the same file leaves no temporary behind", async () => {
  const root = await tempDir();
  try {
    const storage = new LocalStorage(root);
    await storage.write("ferry-v1.0.0-linux-amd64.tar.gz", "tarball");
    await storage.copy("ferry-v1.0.0-linux-amd64.tar.gz", "ferry-linux-amd64.tar.gz");
    // Both names are one inode now: rename(2) of one hard link onto another does nothing.
    await storage.copy("ferry-v1.0.0-linux-amd64.tar.gz", "ferry-linux-amd64.tar.gz");
    assert.deepEqual((await fs.readdir(root)).sort(), [
      "ferry-linux-amd64.tar.gz",
      "ferry-v1.0.0-linux-amd64.tar.gz",
    ]);
    const [a, b] = await Promise.all(
      ["ferry-linux-amd64.tar.gz", "ferry-v1.0.0-linux-amd64.tar.gz"].map((name) =>
        fs.stat(nodePath.join(root, name))
      ),
    );
    assert.equal(a!.ino, b!.ino, "a hard link, not a copy");
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test("LocalStorage.fillFile() makes the filled file visible only when its filler resolves", async () => {
  const root = await tempDir();
  try {
    const storage = new LocalStorage(root);
    await storage.write("a.tar.gz", "old");
    // A filler that writes and then refuses (a failed verification): the old file stays.
    let seenTemp = "";
    await assert.rejects(
      storage.fillFile("a.tar.gz", async (temp) => {
        seenTemp = temp;
        assert.equal(nodePath.dirname(temp), root, "beside the target, for an atomic rename");
        assert.ok(nodePath.basename(temp).startsWith(TEMP_PREFIX));
        await fs.writeFile(temp, "forged");
        throw new RangeError("does not match");
      }),
      RangeError,
    );
    assert.equal(await fs.readFile(nodePath.join(root, "a.tar.gz"), "utf8"), "old");
    await assert.rejects(fs.stat(seenTemp), "the temporary file is removed");
    // A filler that resolves: its bytes replace the old file, with the usual mode.
    const stat = await storage.fillFile("sub/a.tar.gz", (temp) => fs.writeFile(temp, "new"));
    assert.equal(stat.size, 3);
    assert.equal(await fs.readFile(nodePath.join(root, "sub/a.tar.gz"), "utf8"), "new");
    assert.equal((await fs.stat(nodePath.join(root, "sub/a.tar.gz"))).mode & 0o777, 0o644);
    assert.deepEqual(
      (await fs.readdir(root)).filter((name) => name.startsWith(TEMP_PREFIX)),
      [],
    );
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
