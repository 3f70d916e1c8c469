import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { componentDir } from "../../lib/client/component_dir.ts";
import { UsageError } from "../../lib/errors.ts";

describe("componentDir()", () => {
  it("gives <home>/components/<name>/<version>", () => {
    assert.equal(componentDir("/h/.ferry", "hello", "v0.0.1"), "/h/.ferry/components/hello/v0.0.1");
  });
  it("resolves a relative home", () => {
    assert.equal(componentDir("rel", "a", "v1"), `${process.cwd()}/rel/components/a/v1`);
  });
  it("refuses path tricks in the name or version", () => {
    assert.throws(() => componentDir("/h", "..", "v1"), UsageError);
    assert.throws(() => componentDir("/h", "a", "../../etc"), UsageError);
    assert.throws(() => componentDir("/h", "a/b", "v1"), UsageError);
  });
});
