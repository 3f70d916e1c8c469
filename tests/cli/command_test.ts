import assert from "node:assert/strict";
import { test } from "node:test";
import { dynamicListFlags, splitList } from "../../lib/cli/command.ts";
import { UsageError } from "../../lib/errors.ts";

test("splitList() splits commas, trims and drops empty values", () => {
  assert.deepEqual(splitList(["a.json, b.json", "c.json", ""]), [
    "a.json",
    "b.json",
    "c.json",
  ]);
  assert.deepEqual(splitList("x"), ["x"]);
  assert.deepEqual(splitList(undefined), []);
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
