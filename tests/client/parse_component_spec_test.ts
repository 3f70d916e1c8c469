import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseComponentSpec } from "../../lib/client/parse_component_spec.ts";
import { UsageError } from "../../lib/errors.ts";

describe("parseComponentSpec()", () => {
  const good: [string, { name: string; version?: string }][] = [
    ["hello", { name: "hello" }],
    ["hello:v0.0.1", { name: "hello", version: "v0.0.1" }],
    ["tidb-lightning:v8.5.0", { name: "tidb-lightning", version: "v8.5.0" }],
    ["node_exporter:nightly", { name: "node_exporter", version: "nightly" }],
    ["x:v1.0.0-alpha+build.7", { name: "x", version: "v1.0.0-alpha+build.7" }],
  ];
  for (const [spec, expected] of good) {
    it(`parses "${spec}"`, () => {
      assert.deepEqual(parseComponentSpec(spec), expected);
    });
  }

  const bad: [string, RegExp][] = [
    ["", /name before ":" is empty/],
    ["hello:", /version after ":" is empty/],
    [":v1", /name before ":" is empty/],
    ["a:b:c", /one ":"/],
    ["../etc:v1", /Cannot use component name "\.\.\/etc"/],
    ["hello:../../x", /Cannot use version/],
    ["he llo", /Cannot use component name "he llo"/],
    ["hello:v1\n", /Cannot use version "v1\\x0a"/],
    ["a/b", /no "\/"/],
    [".hidden", /starting with a letter or digit/],
  ];
  for (const [spec, pattern] of bad) {
    it(`refuses ${JSON.stringify(spec)} with a UsageError`, () => {
      assert.throws(() => parseComponentSpec(spec), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, pattern);
        return true;
      });
    });
  }
});
