import assert from "node:assert/strict";
import { test } from "node:test";
import { openVerifiedJournal } from "../../../lib/mirror/clone/verified_journal.ts";
import { MemoryStorage } from "../../../lib/storage/memory_storage.ts";

const SHA = "a".repeat(64);

test("openVerifiedJournal() remembers a hash while size and mtime are unchanged", async () => {
  const storage = new MemoryStorage();
  const stat = await storage.write("x.tar.gz", "abc");
  const journal = await openVerifiedJournal(storage);
  journal.record(stat, SHA);
  await journal.save();
  const reopened = await openVerifiedJournal(storage);
  assert.equal(reopened.lookup(stat), SHA);
  assert.equal(reopened.lookup({ ...stat, size: 4 }), undefined, "other size");
  assert.equal(
    reopened.lookup({ ...stat, modified: new Date(stat.modified.getTime() + 1) }),
    undefined,
    "other mtime",
  );
});

test("openVerifiedJournal() treats a malformed journal as empty", async () => {
  const storage = new MemoryStorage();
  await storage.write(".ferry-staging/verified.json", "{not json");
  const stat = await storage.write("x.tar.gz", "abc");
  const journal = await openVerifiedJournal(storage);
  assert.equal(journal.lookup(stat), undefined);
  journal.record(stat, SHA);
  await journal.save();
  assert.equal((await openVerifiedJournal(storage)).lookup(stat), SHA);
});

test("openVerifiedJournal() ignores entries that are not sha256 hex", async () => {
  const storage = new MemoryStorage();
  const stat = await storage.write("x.tar.gz", "abc");
  await storage.write(
    ".ferry-staging/verified.json",
    JSON.stringify({
      files: { "x.tar.gz": { size: 3, mtime: stat.modified.getTime(), sha256: "nope" } },
    }),
  );
  assert.equal((await openVerifiedJournal(storage)).lookup(stat), undefined);
});
