import assert from "node:assert/strict";
import { test } from "node:test";
import { ExitCode, exitCodeFor } from "../../lib/cli/exit_codes.ts";
import {
  DownloadError,
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
  assert.equal(exitCodeFor(new TooLargeError("x", 1)), 4);
  assert.equal(exitCodeFor(new StorageError("x")), 1);
  assert.equal(exitCodeFor(new TypeError("x")), 1);
  assert.equal(exitCodeFor(undefined), 1);
});
