import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkComponentName } from "../../lib/client/check_component_name.ts";
import { checkComponentVersion } from "../../lib/client/check_component_version.ts";
import { UsageError } from "../../lib/errors.ts";

describe("checkComponentName()", () => {
  for (const name of ["hello", "tidb-lightning", "node_exporter", "ctl", "A1.b"]) {
    it(`accepts "${name}"`, () => assert.equal(checkComponentName(name), name));
  }
  for (const name of ["", "..", "a..b", "a/b", "a\\b", "a b", "\tx", "-x", ".x", "x\0", "é"]) {
    it(`refuses ${JSON.stringify(name)}`, () => {
      assert.throws(() => checkComponentName(name), UsageError);
    });
  }
  it("refuses a name longer than 128 characters", () => {
    assert.throws(() => checkComponentName("a".repeat(129)), /longer than 128/);
    assert.equal(checkComponentName("a".repeat(128)), "a".repeat(128));
  });
  it("names the field in its message", () => {
    assert.throws(() => checkComponentName("a b", "--name"), /Cannot use --name "a b"/);
  });
});

describe("checkComponentVersion()", () => {
  for (const version of ["v0.0.1", "nightly", "v8.5.0-alpha", "1.0.0+build.1", "v1_2"]) {
    it(`accepts "${version}"`, () => assert.equal(checkComponentVersion(version), version));
  }
  for (const version of ["", "..", "v1/../x", "v1 ", "+v1", "v1:2", "v1\n"]) {
    it(`refuses ${JSON.stringify(version)}`, () => {
      assert.throws(() => checkComponentVersion(version), UsageError);
    });
  }
});
