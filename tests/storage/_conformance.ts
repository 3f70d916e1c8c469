/**
 * The one storage conformance suite (distribution's storage driver testsuite, in spirit): every
 * backend runs it, so "a missing path throws NotFoundError", "a range is exactly those bytes",
 * "a hostile path never reaches the backend" and "a write is all-or-nothing" mean the same thing
 * on local disk, in memory and over HTTP.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AlreadyExistsError, NotFoundError, PathError, TooLargeError } from "../../lib/errors.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import {
  canFlush,
  canList,
  canReplaceIfMatch,
  type FileStat,
  type ListableStorage,
  type Storage,
  type StorageReader,
} from "../../lib/storage/storage.ts";

/** One instance of a backend under test, fresh for every test. */
export interface ConformanceBackend {
  /** The backend under test, seen through the read role. */
  reader: StorageReader;
  /** The same backend through the write role, when it has one (undefined for read-only ones). */
  writer?: Storage;
  /** Puts bytes at `path` by whatever means exist: the backend itself, or the storage behind it. */
  seed(path: string, data: Uint8Array | string): Promise<void>;
  /**
   * Leaves behind what a writer killed in the middle of writing `path` would leave (a partial
   * temporary file), for backends that have such a thing.
   */
  leaveKilledWrite?(path: string, partial: Uint8Array): Promise<void>;
  /** The POSIX mode of a stored object, for backends that keep one. */
  modeOf?(path: string): Promise<number>;
  /** Removes whatever the backend created. */
  close(): Promise<void>;
}

/** Facts about a backend that decide which tests apply. */
export interface ConformanceCapabilities {
  /** The backend can list (false: it must lack the capability, so no caller can try). */
  canList: boolean;
  /** The backend has a write role (false: it must have no write or delete at all). */
  writable: boolean;
  /** Writers use temporary files that a killed writer can leave behind (local disk). */
  tempFiles: boolean;
}

/** Bytes 0..255 repeated, so that any off-by-one in a range shows. */
export function patternBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + 3) & 0xff;
  return bytes;
}

/** Hostile or malformed keys every backend must refuse with PathError before any I/O. */
export const HOSTILE_PATHS: ReadonlyArray<readonly [string, string]> = [
  ["dot-dot traversal", "../outside"],
  ["dot-dot in the middle", "a/../../outside"],
  ["bare dot-dot", ".."],
  ["dot segment", "./a.json"],
  ["absolute path", "/etc/passwd"],
  ["backslash traversal", "..\\outside"],
  ["backslash separator", "a\\b.json"],
  ["NUL byte truncation", "a.json\0.png"],
  ["newline (log injection)", "a\nb.json"],
  ["DEL character", "a\x7fb"],
  ["empty path", ""],
  ["empty segment", "a//b.json"],
  ["trailing slash", "a/"],
  ["drive letter", "C:/Windows/win.ini"],
  ["over-long segment", `${"x".repeat(256)}.json`],
  ["over-long path", `${"abcdefgh/".repeat(120)}x`],
];

async function readAll(reader: StorageReader, path: string, options = {}): Promise<Uint8Array> {
  const object = await reader.read(path, options);
  return await collectBytes(object.body);
}

/** A stream that yields `chunks` one by one. */
export function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function encode(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

async function listAll(reader: StorageReader, prefix: string): Promise<FileStat[]> {
  if (!canList(reader)) throw new TypeError(`"${reader.location}" cannot list`);
  return await listFrom(reader, prefix);
}

async function listFrom(reader: ListableStorage, prefix: string): Promise<FileStat[]> {
  const out: FileStat[] = [];
  for await (const entry of reader.list(prefix)) out.push(entry);
  return out;
}

/** A stream that yields `first`, then waits for `release()` before yielding `rest` (or failing). */
function gatedStream(first: Uint8Array, rest: Uint8Array) {
  let release: (fail?: Error) => void = () => {};
  const gate = new Promise<Error | undefined>((resolve) => (release = resolve));
  let sentFirst: () => void = () => {};
  const firstSent = new Promise<void>((resolve) => (sentFirst = resolve));
  let step = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (step === 0) {
        step = 1;
        controller.enqueue(first);
        sentFirst();
        return;
      }
      const failure = await gate;
      if (failure) {
        controller.error(failure);
        return;
      }
      controller.enqueue(rest);
      controller.close();
    },
  });
  return { stream, firstSent, release };
}

/**
 * Defines the conformance tests for one backend. `create` is called once per test and must
 * return a fresh, empty backend.
 */
export function defineStorageConformanceTests(
  name: string,
  create: () => Promise<ConformanceBackend>,
  capabilities: ConformanceCapabilities,
): void {
  const it = (title: string, body: (backend: ConformanceBackend) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const backend = await create();
      try {
        await body(backend);
      } finally {
        await backend.close();
      }
    });

  // --- reading -------------------------------------------------------------------------------

  it("stat() reports the size of a stored object", async ({ reader, seed }) => {
    await seed("bin/root.json", "{}\n");
    const stat = await reader.stat("bin/root.json");
    assert.equal(stat.path, "bin/root.json");
    assert.equal(stat.size, 3);
    assert.ok(stat.modified instanceof Date);
    assert.ok(!Number.isNaN(stat.modified.getTime()));
  });

  it("read() returns every byte of a binary object unchanged", async ({ reader, seed }) => {
    const bytes = patternBytes(70_000);
    await seed("a/b/c/data.bin", bytes);
    const object = await reader.read("a/b/c/data.bin");
    assert.equal(object.stat.size, bytes.length);
    assert.deepEqual(await collectBytes(object.body), bytes);
  });

  it("read() of an empty object returns zero bytes", async ({ reader, seed }) => {
    await seed("empty.txt", new Uint8Array());
    assert.equal((await reader.stat("empty.txt")).size, 0);
    assert.equal((await readAll(reader, "empty.txt")).length, 0);
  });

  it("read() with a range returns exactly bytes start..end inclusive", async (b) => {
    const bytes = patternBytes(1000);
    await b.seed("r.bin", bytes);
    for (const [start, end] of [[0, 0], [0, 9], [10, 19], [500, 999], [999, 999], [0, 999]]) {
      const got = await readAll(b.reader, "r.bin", { range: { start, end } });
      assert.deepEqual(got, bytes.slice(start!, end! + 1), `range ${start}-${end}`);
    }
  });

  it("stat() and read() of a missing path throw NotFoundError", async ({ reader, seed }) => {
    await seed("present.json", "{}");
    for (const path of ["missing.json", "no/such/dir/file.json", "present.json/child"]) {
      await assert.rejects(reader.stat(path), NotFoundError, `stat ${path}`);
      await assert.rejects(reader.read(path), NotFoundError, `read ${path}`);
    }
  });

  it("NotFoundError names the missing path", async ({ reader }) => {
    const error = await reader.stat("gone/1.gone.json").catch((e) => e);
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.path, "gone/1.gone.json");
  });

  it("a directory is not an object: stat() throws NotFoundError", async ({ reader, seed }) => {
    await seed("dir/file.json", "{}");
    await assert.rejects(reader.stat("dir"), NotFoundError);
  });

  it("read() refuses an object larger than maxBytes with TooLargeError", async (b) => {
    await b.seed("big.bin", patternBytes(5000));
    await assert.rejects(readAll(b.reader, "big.bin", { maxBytes: 4999 }), TooLargeError);
    assert.equal((await readAll(b.reader, "big.bin", { maxBytes: 5000 })).length, 5000);
  });

  for (const [attack, path] of HOSTILE_PATHS) {
    it(`refuses a path with ${attack} before any I/O`, async ({ reader, writer }) => {
      await assert.rejects(reader.stat(path), PathError, `stat ${JSON.stringify(path)}`);
      await assert.rejects(reader.read(path), PathError, `read ${JSON.stringify(path)}`);
      if (writer) {
        await assert.rejects(writer.write(path, "x"), PathError, `write ${JSON.stringify(path)}`);
        await assert.rejects(writer.delete(path), PathError, `delete ${JSON.stringify(path)}`);
      }
    });
  }

  it("a PathError message shows control characters escaped", async ({ reader }) => {
    const error = await reader.stat("a\nb").catch((e) => e);
    assert.ok(error instanceof PathError);
    assert.ok(!error.message.includes("\n"), error.message);
    assert.match(error.message, /\\x0a/);
  });

  // --- listing -------------------------------------------------------------------------------

  if (capabilities.canList) {
    it("list() returns every object under a prefix in key order", async ({ reader, seed }) => {
      for (const path of ["b.json", "a/2.json", "a/1.json", "a/sub/x.json", "ab.json"]) {
        await seed(path, path);
      }
      assert.deepEqual((await listAll(reader, "")).map((s) => s.path), [
        "a/1.json",
        "a/2.json",
        "a/sub/x.json",
        "ab.json",
        "b.json",
      ]);
      assert.deepEqual((await listAll(reader, "a/")).map((s) => s.path), [
        "a/1.json",
        "a/2.json",
        "a/sub/x.json",
      ]);
      assert.deepEqual((await listAll(reader, "a")).map((s) => s.path), [
        "a/1.json",
        "a/2.json",
        "a/sub/x.json",
        "ab.json",
      ]);
      const [first] = await listAll(reader, "a/1");
      assert.equal(first?.size, "a/1.json".length);
      assert.deepEqual(await listAll(reader, "nothing/"), []);
    });

    it("list() refuses a traversal prefix", async ({ reader }) => {
      await assert.rejects(listAll(reader, "../"), PathError);
      await assert.rejects(listAll(reader, "/etc"), PathError);
    });
  } else {
    it("lacks the listing capability, so no caller can try to list", async (b) => {
      await b.seed("a.json", "{}");
      assert.equal(canList(b.reader), false);
      assert.equal(typeof (b.reader as Partial<ListableStorage>).list, "undefined");
    });
  }

  // --- cancellation --------------------------------------------------------------------------

  it("an aborted signal stops stat() and read() with the signal's reason", async (b) => {
    await b.seed("a.json", "{}");
    const controller = new AbortController();
    const reason = new Error("the caller gave up");
    controller.abort(reason);
    const { signal } = controller;
    assert.equal(await b.reader.stat("a.json", { signal }).catch((e) => e), reason);
    assert.equal(await b.reader.read("a.json", { signal }).catch((e) => e), reason);
  });

  it("aborting in the middle of a read fails its body with the signal's reason", async (b) => {
    await b.seed("big.bin", patternBytes(4 * 1024 * 1024));
    const controller = new AbortController();
    const object = await b.reader.read("big.bin", { signal: controller.signal });
    const reader = (object.body instanceof Blob ? object.body.stream() : object.body)
      .getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    const reason = new Error("the client went away");
    controller.abort(reason);
    let error: unknown;
    try {
      while (!(await reader.read()).done) { /* drain what was already buffered */ }
    } catch (e) {
      error = e;
    }
    assert.equal(error, reason);
  });

  // --- killed writers ------------------------------------------------------------------------

  if (capabilities.tempFiles) {
    it("a temp file left by a killed writer is never listed or read", async (backend) => {
      await backend.seed("bin/kept.json", "{}");
      await backend.leaveKilledWrite!("bin/half.json", patternBytes(100));
      await assert.rejects(backend.reader.stat("bin/half.json"), NotFoundError);
      if (capabilities.canList) {
        assert.deepEqual((await listAll(backend.reader, "")).map((s) => s.path), [
          "bin/kept.json",
        ]);
      }
    });
  }

  // --- writing -------------------------------------------------------------------------------

  if (!capabilities.writable) {
    it("has no write role at all: no write(), no delete(), and nothing changes", async (b) => {
      assert.equal(b.writer, undefined);
      await b.seed("a.json", "before");
      const maybe = b.reader as Partial<Storage>;
      assert.equal(typeof maybe.delete, "undefined", "a read-only backend has no delete()");
      assert.equal(typeof maybe.write, "undefined", "a read-only backend has no write()");
      assert.equal(text(await readAll(b.reader, "a.json")), "before");
    });
    return;
  }

  it("an aborted signal stops write() and delete() and leaves the old object", async (b) => {
    if (!b.writer) throw new TypeError("A writable backend must provide its write role");
    await b.writer.write("index.json", "old");
    const controller = new AbortController();
    const reason = new Error("the caller gave up");
    controller.abort(reason);
    const { signal } = controller;
    assert.equal(await b.writer.write("index.json", "new", { signal }).catch((e) => e), reason);
    assert.equal(await b.writer.delete("index.json", { signal }).catch((e) => e), reason);
    assert.equal(text(await readAll(b.reader, "index.json")), "old");
  });

  it("aborting in the middle of a write leaves the old object and no trace", async (b) => {
    if (!b.writer) throw new TypeError("A writable backend must provide its write role");
    await b.writer.write("index.json", "old");
    const controller = new AbortController();
    const gated = gatedStream(patternBytes(64 * 1024), patternBytes(64 * 1024));
    const writing = b.writer.write("index.json", gated.stream, { signal: controller.signal });
    await gated.firstSent;
    const reason = new Error("the caller gave up");
    controller.abort(reason);
    gated.release();
    assert.equal(await writing.catch((e) => e), reason);
    assert.equal(text(await readAll(b.reader, "index.json")), "old");
    if (capabilities.canList) {
      assert.deepEqual((await listAll(b.reader, "")).map((s) => s.path), ["index.json"]);
    }
  });

  it(
    "write() round-trips bytes, text and streams",
    async ({ reader, writer }) => {
      if (!writer) throw new TypeError("A writable backend must provide its write role");
      const bytes = patternBytes(300_000);
      const stat = await writer.write("w/bytes.bin", bytes);
      assert.equal(stat.size, bytes.length);
      assert.equal(stat.path, "w/bytes.bin");
      assert.deepEqual(await readAll(reader, "w/bytes.bin"), bytes);

      await writer.write("w/text.json", '{"name":"ферри"}');
      assert.equal(text(await readAll(reader, "w/text.json")), '{"name":"ферри"}');

      const chunks = [patternBytes(10), patternBytes(70_000), patternBytes(1)];
      await writer.write("w/stream.bin", streamOf(chunks));
      assert.deepEqual(await readAll(reader, "w/stream.bin"), concat(chunks));
    },
  );

  it("write() of a long stream of small chunks keeps every byte in order", async (b) => {
    if (!b.writer) throw new TypeError("A writable backend must provide its write role");
    // More than the 1 MiB a local write gathers before each writev, in uneven pieces.
    const chunks = Array.from({ length: 400 }, (_, i) => patternBytes(1 + (i * 7919) % 9000));
    await b.writer.write("w/many.bin", streamOf(chunks));
    assert.deepEqual(await readAll(b.reader, "w/many.bin"), concat(chunks));
  });

  it("write() with deferSync is atomic and readable at once; flush() then succeeds", async (b) => {
    if (!b.writer) throw new TypeError("A writable backend must provide its write role");
    await b.writer.write("w/deferred.bin", patternBytes(5000), { deferSync: true });
    await b.writer.write("w/deferred.bin", streamOf([patternBytes(3000)]), { deferSync: true });
    assert.deepEqual(await readAll(b.reader, "w/deferred.bin"), patternBytes(3000));
    if (canFlush(b.writer)) await b.writer.flush();
  });

  it("write() does not keep a reference to the caller's buffer", async ({ reader, writer }) => {
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    const bytes = new TextEncoder().encode("original");
    await writer.write("copy.txt", bytes);
    bytes.fill(0x41);
    assert.equal(text(await readAll(reader, "copy.txt")), "original");
  });

  it("write() replaces an existing object", async ({ reader, writer }) => {
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("timestamp.json", "old version, longer than the new one");
    await writer.write("timestamp.json", "new");
    assert.equal(text(await readAll(reader, "timestamp.json")), "new");
    assert.equal((await reader.stat("timestamp.json")).size, 3);
  });

  it("a reader never sees a half-written object", async ({ reader, writer }) => {
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("snapshot.json", "old");
    const first = patternBytes(64 * 1024);
    const rest = patternBytes(64 * 1024).reverse();
    const gated = gatedStream(first, rest);
    const writing = writer.write("snapshot.json", gated.stream);
    await gated.firstSent;
    // The writer is now in the middle of the object: readers still see the old one, whole.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(text(await readAll(reader, "snapshot.json")), "old");
      assert.equal((await reader.stat("snapshot.json")).size, 3);
    }
    gated.release();
    await writing;
    assert.deepEqual(await readAll(reader, "snapshot.json"), concat([first, rest]));
  });

  it("a write whose data fails leaves the old object and no trace", async (b) => {
    const { reader, writer } = b;
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("index.json", "old");
    const gated = gatedStream(patternBytes(1000), patternBytes(1000));
    const writing = writer.write("index.json", gated.stream);
    const writingNew = writer.write("fresh/new.json", streamOf([patternBytes(9)]));
    await gated.firstSent;
    const cause = new TooLargeError("upstream", 1500);
    gated.release(cause);
    const error = await writing.catch((e) => e);
    // The data source's own error comes back (not a generic storage error), so a download
    // that fails mid-write still exits with the network exit code.
    assert.ok(error instanceof TooLargeError, `got ${error}`);
    assert.equal(text(await readAll(reader, "index.json")), "old");
    await writingNew;
    if (capabilities.canList) {
      assert.deepEqual((await listAll(reader, "")).map((s) => s.path), [
        "fresh/new.json",
        "index.json",
      ]);
    }
  });

  it("write() with ifAbsent creates a missing object", async ({ reader, writer }) => {
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("keys/1.json", "key", { ifAbsent: true });
    assert.equal(text(await readAll(reader, "keys/1.json")), "key");
  });

  it("write() with ifAbsent refuses to overwrite and keeps the old bytes", async (b) => {
    const { reader, writer } = b;
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("lock", "first owner");
    const error = await writer.write("lock", "second owner", { ifAbsent: true }).catch((e) => e);
    assert.ok(error instanceof AlreadyExistsError, String(error));
    assert.equal(error.path, "lock");
    assert.equal(text(await readAll(reader, "lock")), "first owner");
    if (capabilities.canList) {
      assert.deepEqual((await listAll(reader, "")).map((s) => s.path), ["lock"]);
    }
  });

  it("concurrent ifAbsent writes: exactly one wins", async ({ reader, writer }) => {
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    const results = await Promise.allSettled(
      Array.from(
        { length: 12 },
        (_, i) => writer.write("mirror.lock", streamOf([encode(`owner ${i}`)]), { ifAbsent: true }),
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assert.equal(won.length, 1);
    for (const r of lost) {
      assert.ok((r as PromiseRejectedResult).reason instanceof AlreadyExistsError);
    }
    const winner = results.findIndex((r) => r.status === "fulfilled");
    assert.equal(text(await readAll(reader, "mirror.lock")), `owner ${winner}`);
  });

  it("write() with mode 0600 leaves a file only its owner can read", async (b) => {
    const { reader, writer } = b;
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("keys/private.json", "secret", { mode: 0o600 });
    assert.equal(text(await readAll(reader, "keys/private.json")), "secret");
    if (b.modeOf) {
      assert.equal((await b.modeOf("keys/private.json")) & 0o777, 0o600);
      await writer.write("keys/private.json", "secret 2", { mode: 0o600 });
      assert.equal((await b.modeOf("keys/private.json")) & 0o777, 0o600);
      await writer.write("public.json", "{}");
      assert.equal((await b.modeOf("public.json")) & 0o077 & 0o022, 0);
    }
  });

  it("replaceIfMatch(), where offered: of racing swaps from one identity exactly one wins", async (b) => {
    const { reader, writer } = b;
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    if (!canReplaceIfMatch(writer)) return;
    const first = await writer.write("lease", "v1");
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) => writer.replaceIfMatch("lease", `v2 by ${i}`, first.identity!),
      ),
    );
    const winners = results.flatMap((stat, i) => (stat ? [i] : []));
    assert.equal(winners.length, 1, JSON.stringify(results));
    assert.equal(text(await readAll(reader, "lease")), `v2 by ${winners[0]}`);
    // The winner's identity works once more; the first one no longer does.
    assert.equal(await writer.replaceIfMatch("lease", "stale", first.identity!), undefined);
    const next = await writer.replaceIfMatch("lease", "v3", results[winners[0]!]!.identity!);
    assert.ok(next);
    assert.equal(text(await readAll(reader, "lease")), "v3");
    assert.equal(await writer.replaceIfMatch("missing", "x", first.identity!), undefined);
    await assert.rejects(reader.stat("missing"), NotFoundError);
  });

  it("delete() removes an object; deleting a missing one throws NotFoundError", async (b) => {
    const { reader, writer } = b;
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    await writer.write("cache/blob", "x");
    await writer.delete("cache/blob");
    await assert.rejects(reader.stat("cache/blob"), NotFoundError);
    await assert.rejects(writer.delete("cache/blob"), NotFoundError);
  });

  it("copy(), where offered, gives the new name the same bytes and replaces it whole", async (b) => {
    const { reader, writer } = b;
    if (!writer) throw new TypeError("A writable backend must provide its write role");
    if (!writer.copy) return;
    await writer.write("ferry-v1.0.0-linux-amd64.tar.gz", patternBytes(5000));
    await writer.write("ferry-linux-amd64.tar.gz", "an older latest copy");
    const stat = await writer.copy("ferry-v1.0.0-linux-amd64.tar.gz", "ferry-linux-amd64.tar.gz");
    assert.equal(stat.path, "ferry-linux-amd64.tar.gz");
    assert.equal(stat.size, 5000);
    assert.deepEqual(await readAll(reader, "ferry-linux-amd64.tar.gz"), patternBytes(5000));
    // Replacing the source afterwards (writes replace by rename) leaves the copy as it was.
    await writer.write("ferry-v1.0.0-linux-amd64.tar.gz", "rewritten");
    assert.deepEqual(await readAll(reader, "ferry-linux-amd64.tar.gz"), patternBytes(5000));
    await assert.rejects(writer.copy("missing.tar.gz", "x.tar.gz"), NotFoundError);
    await assert.rejects(writer.copy("ferry-linux-amd64.tar.gz", "../outside"), PathError);
  });
}
