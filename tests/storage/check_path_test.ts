import assert from "node:assert/strict";
import { test } from "node:test";
import { PathError } from "../../lib/errors.ts";
import { checkPath, checkPrefix, hasControlCharacter } from "../../lib/storage/check_path.ts";
import { HOSTILE_PATHS } from "./_conformance.ts";

for (const [attack, path] of HOSTILE_PATHS) {
  test(`checkPath() refuses ${attack}`, () => {
    assert.throws(() => checkPath(path), PathError);
  });
}

test("checkPath() returns acceptable keys unchanged", () => {
  for (
    const path of [
      "root.json",
      "1.root.json",
      "bin/tidb-v7.5.0-linux-amd64.tar.gz",
      "a/b/c/d.json",
      "...json",
      "name..with..dots",
      "%2e%2e",
      `${"x".repeat(255)}`,
      `${"abcdefg/".repeat(127)}x`,
    ]
  ) {
    assert.equal(checkPath(path), path);
  }
});

test("checkPath() refuses a non-string with TypeError", () => {
  assert.throws(() => checkPath(undefined as unknown as string), TypeError);
});

test("checkPrefix() accepts the empty prefix and a trailing slash, refuses traversal", () => {
  assert.equal(checkPrefix(""), "");
  assert.equal(checkPrefix("bin/"), "bin/");
  assert.equal(checkPrefix("bin/ti"), "bin/ti");
  assert.throws(() => checkPrefix("../"), PathError);
  assert.throws(() => checkPrefix("/"), PathError);
  assert.throws(() => checkPrefix("a//"), PathError);
});

test("hasControlCharacter() finds C0 controls and DEL, not printable text", () => {
  assert.equal(hasControlCharacter("a\tb"), true);
  assert.equal(hasControlCharacter("a\x7f"), true);
  assert.equal(hasControlCharacter("\0"), true);
  assert.equal(hasControlCharacter("ферри ~!@#$%^&*()"), false);
});
