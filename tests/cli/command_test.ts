import assert from "node:assert/strict";
import { test } from "node:test";
import {
  booleanFlag,
  dynamicListFlags,
  listFlag,
  repeatedFlag,
  stringFlag,
} from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";

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

test("repeatedFlag() keeps each value whole, commas included", () => {
  assert.deepEqual(repeatedFlag({ registry: ["a=http://a,ca=x.pem", "b=http://b"] }, "registry"), [
    "a=http://a,ca=x.pem",
    "b=http://b",
  ]);
  assert.deepEqual(repeatedFlag({ registry: "a=http://a,library" }, "registry"), [
    "a=http://a,library",
  ]);
  assert.deepEqual(repeatedFlag({}, "registry"), []);
});

test("dynamicListFlags() groups values per flag and refuses a flag without one", () => {
  const missing = (name: string) => new UsageError(`--${name} needs versions`);
  assert.deepEqual(
    dynamicListFlags([
      { name: "tidb", value: "v1, v2" },
      { name: "pd", value: "latest" },
      { name: "tidb", value: "v3," },
    ], missing),
    { tidb: ["v1", "v2", "v3"], pd: ["latest"] },
  );
  assert.throws(
    () => dynamicListFlags([{ name: "tikv", value: undefined }], missing),
    /--tikv needs versions/,
  );
});
