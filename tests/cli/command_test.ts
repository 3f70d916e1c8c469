import assert from "node:assert/strict";
import { test } from "node:test";
import { booleanFlag, listFlag, stringFlag } from "../../lib/cli/command.ts";

test("stringFlag() reads a string, the last of repeated values, or undefined", () => {
  assert.equal(stringFlag({ a: "x" }, "a"), "x");
  assert.equal(stringFlag({ a: ["x", "y"] }, "a"), "y");
  assert.equal(stringFlag({ a: true }, "a"), undefined);
  assert.equal(stringFlag({}, "a"), undefined);
});

test("booleanFlag() is true only for true", () => {
  assert.equal(booleanFlag({ a: true }, "a"), true);
  assert.equal(booleanFlag({ a: "true" }, "a"), false);
  assert.equal(booleanFlag({}, "a"), false);
});

test("listFlag() splits commas, trims and drops empty values", () => {
  assert.deepEqual(listFlag({ k: ["a.json, b.json", "c.json", ""] }, "k"), [
    "a.json",
    "b.json",
    "c.json",
  ]);
  assert.deepEqual(listFlag({ k: "x" }, "k"), ["x"]);
  assert.deepEqual(listFlag({}, "k"), []);
});
