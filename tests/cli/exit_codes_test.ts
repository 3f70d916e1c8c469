import assert from "node:assert/strict";
import { test } from "node:test";
import { ExitCode, exitCodeFor, exitCodeForAll } from "../../lib/cli/exit_codes.ts";
import {
  DownloadError,
  HashMismatchError,
  HttpStatusError,
  LengthMismatchError,
  RollbackError,
  StorageError,
  TooLargeError,
  UsageError,
} from "../../lib/errors.ts";

test("ExitCode keeps its documented values (scripts depend on them)", () => {
  assert.deepEqual(
    { ...ExitCode },
    { ok: 0, failure: 1, usage: 2, verification: 3, network: 4, interrupted: 130 },
  );
});

test("exitCodeFor() maps each error family to its code", () => {
  assert.equal(exitCodeFor(new UsageError("x")), 2);
  assert.equal(exitCodeFor(new RollbackError("x")), 3);
  assert.equal(exitCodeFor(new LengthMismatchError("x")), 3);
  assert.equal(exitCodeFor(new DownloadError("x")), 4);
  assert.equal(exitCodeFor(new StorageError("x")), 1);
  assert.equal(exitCodeFor(new TypeError("x")), 1);
  assert.equal(exitCodeFor(undefined), 1);
});

test("exitCodeFor() treats an oversized signed file as a verification failure (3), not network", () => {
  // TooLargeError is raised where a body passes its cap: the signed length, or TUF's fixed cap.
  assert.equal(exitCodeFor(new TooLargeError("timestamp.json", 1024)), 3);
  assert.equal(exitCodeFor(new HttpStatusError("http://m/x", 503)), 4);
});

test("exitCodeForAll() maps per-file failures with the same rule, the most serious first", () => {
  const timeout = new DownloadError('Cannot fetch "x": no answer within 10 s');
  assert.equal(exitCodeForAll([]), 0);
  assert.equal(exitCodeForAll([timeout, timeout]), 4, "a clone that only timed out is network");
  assert.equal(exitCodeForAll([timeout, new HashMismatchError("x")]), 3);
  assert.equal(exitCodeForAll([new TooLargeError("x", 1)]), 3);
  assert.equal(exitCodeForAll([new StorageError("disk full")]), 1);
  assert.equal(exitCodeForAll([new StorageError("disk full"), timeout]), 4);
});
