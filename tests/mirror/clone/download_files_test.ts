import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, describe, test } from "node:test";
import { exitCodeFor, exitCodeForAll } from "../../../lib/cli/exit_codes.ts";
import { DownloadError, HashMismatchError, VerificationError } from "../../../lib/errors.ts";
import { downloadFiles, type FileTask } from "../../../lib/mirror/clone/download_files.ts";
import { openVerifiedJournal } from "../../../lib/mirror/clone/verified_journal.ts";
import { HttpStorage } from "../../../lib/storage/http_storage.ts";
import { LocalStorage } from "../../../lib/storage/local_storage.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import type { ReadOptions, StorageReader } from "../../../lib/storage/storage.ts";
import { startHostileServer } from "../../storage/_hostile_server.ts";

/** Random bytes as a plain Uint8Array (what reading a file gives back, compared). */
function random(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A real MemoryStorage source that also counts reads and the most reads in flight at once. */
class WatchedSource implements StorageReader {
  readonly location = "memory:source";
  readonly inner = new MemoryStorage();
  reads: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  stat(path: string) {
    return this.inner.stat(path);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  async read(path: string, options?: ReadOptions) {
    this.reads.push(path);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return await this.inner.read(path, options);
    } finally {
      this.inFlight--;
    }
  }
}

const made: string[] = [];
after(async () => {
  for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
});

async function setup(files: Record<string, Uint8Array>) {
  const source = new WatchedSource();
  const tasks: FileTask[] = [];
  for (const [path, bytes] of Object.entries(files)) {
    await source.inner.write(path, bytes);
    tasks.push({ path, expected: [{ length: bytes.length, sha256: sha256(bytes) }] });
  }
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-download-"));
  made.push(dir);
  return { source, tasks, dir, target: new LocalStorage(dir) };
}

describe("downloadFiles()", () => {
  test("downloadFiles() fetches, verifies and places every file, at most `jobs` at once", async () => {
    const files = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`f${i}.tar.gz`, random(1000 + i)]),
    );
    const { source, tasks, dir, target } = await setup(files);
    const report = await downloadFiles(source, target, tasks, { jobs: 3 });
    assert.equal(report.downloaded.length, 20);
    assert.equal(source.maxInFlight, 3);
    for (const [path, bytes] of Object.entries(files)) {
      assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, path))), bytes);
    }
    assert.equal(report.bytes, Object.values(files).reduce((n, b) => n + b.length, 0));
  });

  test("downloadFiles() fetches a path named twice only once", async () => {
    const { source, tasks, target } = await setup({ "a.tar.gz": random(10) });
    const report = await downloadFiles(source, target, [...tasks, ...tasks]);
    assert.deepEqual(source.reads, ["a.tar.gz"]);
    assert.deepEqual(report.downloaded, ["a.tar.gz"]);
  });

  test("downloadFiles() skips files already in place, without fetching or re-hashing them", async () => {
    const { source, tasks, dir, target } = await setup({
      "a.tar.gz": random(10),
      "b.tar.gz": random(20),
    });
    const journal = await openVerifiedJournal(target);
    await downloadFiles(source, target, tasks, { journal });
    source.reads = [];
    // Corrupt a.tar.gz behind the journal's back but keep size and mtime: trusted by stat.
    const again = await downloadFiles(source, target, tasks, {
      journal: await openVerifiedJournal(target),
    });
    assert.deepEqual(again.skipped, ["a.tar.gz", "b.tar.gz"]);
    assert.deepEqual(source.reads, []);
    // Without the journal, a changed file is noticed by its hash and reported as a conflict.
    const file = nodePath.join(dir, "a.tar.gz");
    await fs.writeFile(file, random(10));
    const checked = await downloadFiles(source, target, tasks);
    assert.deepEqual(checked.conflicts, ["a.tar.gz"]);
  });

  test("downloadFiles() replaces a differing file only with overwrite", async () => {
    const bytes = random(10);
    const { source, tasks, dir, target } = await setup({ "a.tar.gz": bytes });
    await fs.writeFile(nodePath.join(dir, "a.tar.gz"), "user's own file");
    const kept = await downloadFiles(source, target, tasks);
    assert.deepEqual(kept.conflicts, ["a.tar.gz"]);
    assert.equal(await fs.readFile(nodePath.join(dir, "a.tar.gz"), "utf8"), "user's own file");
    const replaced = await downloadFiles(source, target, tasks, { overwrite: true });
    assert.deepEqual(replaced.downloaded, ["a.tar.gz"]);
    assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, "a.tar.gz"))), bytes);
  });

  test("downloadFiles() lists a 404 as missing and completes the others (TiUP #1111)", async () => {
    const { source, tasks, target } = await setup({ "a.tar.gz": random(10) });
    const report = await downloadFiles(source, target, [
      { path: "gone.tar.gz", expected: [{ length: 5, sha256: "0".repeat(64) }] },
      ...tasks,
    ]);
    assert.deepEqual(report.missing, ["gone.tar.gz"]);
    assert.deepEqual(report.downloaded, ["a.tar.gz"]);
  });

  test(
    "downloadFiles() keeps each failure's error: a timeout is network (4), a long file verification (3)",
    { timeout: 10_000 },
    async () => {
      const good = random(10);
      const server = await startHostileServer({
        "/silent.tar.gz": () => {/* never answers */},
        "/long.tar.gz": (_request, response) => response.end(Buffer.from(random(20))),
        "/good.tar.gz": (_request, response) => response.end(Buffer.from(good)),
      });
      try {
        const dir = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-download-"));
        made.push(dir);
        const source = new HttpStorage(server.url, { headersTimeoutMs: 300, retries: 0 });
        const expect = (
          length: number,
          bytes = random(length),
        ) => [{ length, sha256: sha256(bytes) }];
        const report = await downloadFiles(source, new LocalStorage(dir), [
          { path: "silent.tar.gz", expected: expect(10) },
          { path: "long.tar.gz", expected: expect(10) },
          { path: "good.tar.gz", expected: expect(10, good) },
        ]);
        assert.deepEqual(report.downloaded, ["good.tar.gz"]);
        const [long, silent] = report.failed;
        assert.equal(long?.path, "long.tar.gz");
        assert.equal(exitCodeFor(long!.error), 3, String(long!.error));
        assert.equal(silent?.path, "silent.tar.gz");
        assert.ok(silent!.error instanceof DownloadError, String(silent!.error));
        assert.ok(!(silent!.error instanceof VerificationError));
        assert.equal(exitCodeForAll([silent!.error]), 4);
      } finally {
        await server.close();
      }
    },
  );

  const tamperings: Array<[string, (source: WatchedSource, tasks: FileTask[]) => Promise<void>]> = [
    ["a tampered download", async (source) => {
      await source.inner.write("a.tar.gz", random(10)); // the source now serves other bytes
    }],
    // Length and SHA-256 match, the signed SHA-512 does not: the file is refused all the same.
    ["a file whose sha512 differs from the manifest", (_, tasks) => {
      tasks[0]!.expected[0]!.sha512 = "0".repeat(128);
      return Promise.resolve();
    }],
  ];
  for (const [what, tamper] of tamperings) {
    test(`downloadFiles() never makes ${what} visible, nor leaves a temporary file`, async () => {
      const { source, tasks, dir, target } = await setup({ "a.tar.gz": random(10) });
      await tamper(source, tasks);
      const report = await downloadFiles(source, target, tasks);
      assert.equal(report.failed.length, 1);
      assert.ok(
        report.failed[0]!.error instanceof HashMismatchError,
        String(report.failed[0]!.error),
      );
      await assert.rejects(fs.stat(nodePath.join(dir, "a.tar.gz")));
      assert.deepEqual(
        (await fs.readdir(dir)).filter((name) => !name.startsWith(".ferry-staging")),
        [],
        "no temporary file is left behind",
      );
    });
  }

  test("downloadFiles() checks the sha512 it is given, hashing on workers or in line", async () => {
    for (const hashWorkers of [0, 2]) {
      const bytes = random(3 * 1024 * 1024 + 5);
      const { source, tasks, dir, target } = await setup({
        "a.tar.gz": bytes,
        "b.tar.gz": random(7),
      });
      tasks[0]!.expected[0]!.sha512 = createHash("sha512").update(bytes).digest("hex");
      const report = await downloadFiles(source, target, tasks, { hashWorkers });
      assert.deepEqual(report.downloaded, ["a.tar.gz", "b.tar.gz"], `hashWorkers ${hashWorkers}`);
      assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, "a.tar.gz"))), bytes);
    }
  });

  test("downloadFiles() places files intact across the garbage collections it runs", async () => {
    // Over 32 MiB in all: Bun collects garbage mid-transfer (to reuse spent network buffers);
    // every byte must still land, hashed and checked, on both hashing paths.
    for (const hashWorkers of [0, 2]) {
      const large = random(20 * 1024 * 1024 + 3);
      const other = random(14 * 1024 * 1024 + 1);
      const { source, tasks, dir, target } = await setup({ "a.tar.gz": large, "b.tar.gz": other });
      tasks[0]!.expected[0]!.sha512 = createHash("sha512").update(large).digest("hex");
      const report = await downloadFiles(source, target, tasks, { hashWorkers });
      assert.deepEqual(report.downloaded, ["a.tar.gz", "b.tar.gz"], `hashWorkers ${hashWorkers}`);
      assert.equal(report.bytes, large.length + other.length);
      assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, "a.tar.gz"))), large);
      assert.deepEqual(new Uint8Array(await fs.readFile(nodePath.join(dir, "b.tar.gz"))), other);
    }
  });

  test("downloadFiles() reports progress with totals", async () => {
    const { source, tasks, target } = await setup({
      "a.tar.gz": random(100),
      "b.tar.gz": random(200),
    });
    const events: Array<{ filesDone: number; bytesDone: number; bytesTotal?: number }> = [];
    await downloadFiles(source, target, tasks, { onProgress: (event) => events.push(event) });
    const last = events[events.length - 1]!;
    assert.equal(last.filesDone, 2);
    assert.equal(last.bytesDone, 300);
    assert.equal(last.bytesTotal, 300);
  });
});
