import assert from "node:assert/strict";
import { test } from "node:test";
import { PathError, TooLargeError } from "../../lib/errors.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import {
  bodyStream,
  collectBytes,
  readBytes,
  readBytesIfPresent,
  readText,
} from "../../lib/storage/read_bytes.ts";
import { patternBytes, streamOf } from "./_conformance.ts";

test("collectBytes() joins a stream's chunks in order", async () => {
  const bytes = await collectBytes(streamOf([patternBytes(3), patternBytes(5)]));
  assert.deepEqual([...bytes], [...patternBytes(3), ...patternBytes(5)]);
});

test("collectBytes() stops endless data at the cap and cancels the source", async () => {
  let cancelled = false;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(patternBytes(100));
    },
    cancel() {
      cancelled = true;
    },
  });
  const error = await collectBytes(endless, { maxBytes: 1000, what: "timestamp.json" })
    .catch((e) => e);
  assert.ok(error instanceof TooLargeError, String(error));
  assert.match(error.message, /"timestamp.json".*1000 bytes/);
  assert.equal(cancelled, true);
});

test("collectBytes() refuses a Blob over the cap without reading it", async () => {
  await assert.rejects(collectBytes(new Blob([patternBytes(11)]), { maxBytes: 10 }), TooLargeError);
  assert.equal((await collectBytes(new Blob([patternBytes(10)]), { maxBytes: 10 })).length, 10);
});

test("readBytes() and readText() read whole objects with a cap", async () => {
  const storage = new MemoryStorage();
  await storage.write("a.json", '{"ok":true}');
  assert.equal(await readText(storage, "a.json"), '{"ok":true}');
  assert.equal((await readBytes(storage, "a.json", { maxBytes: 11 })).length, 11);
  await assert.rejects(readText(storage, "a.json", { maxBytes: 10 }), TooLargeError);
});

test("readText() refuses bytes that are not UTF-8", async () => {
  const storage = new MemoryStorage();
  await storage.write("bad.json", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
  await assert.rejects(readText(storage, "bad.json"), TypeError);
});

test("bodyStream() turns a Blob body into a stream of the same bytes", async () => {
  const stream = bodyStream({
    stat: { path: "x", size: 3, modified: new Date(0) },
    body: new Blob([patternBytes(3)]),
  });
  assert.deepEqual(await collectBytes(stream), patternBytes(3));
});

test("readBytesIfPresent() is undefined for a missing object and rethrows other failures", async () => {
  const storage = new MemoryStorage();
  await storage.write("root.json", "{}");
  assert.equal(new TextDecoder().decode(await readBytesIfPresent(storage, "root.json")), "{}");
  assert.equal(await readBytesIfPresent(storage, "2.root.json"), undefined);
  await assert.rejects(readBytesIfPresent(storage, "root.json", { maxBytes: 1 }), TooLargeError);
  await assert.rejects(readBytesIfPresent(storage, "../root.json"), PathError);
});
