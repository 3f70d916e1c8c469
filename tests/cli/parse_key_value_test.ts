import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { parseKeyValue, parseKeyValueList } from "../../lib/cli/parse_key_value.ts";

test("parseKeyValueList() splits at commas, then at each part's first =", () => {
  assert.deepEqual(parseKeyValueList("my.reg=https://r:5000/?a=b,ca=ca.pem,library"), [
    { key: "my.reg", value: "https://r:5000/?a=b" },
    { key: "ca", value: "ca.pem" },
    { key: "library", value: undefined },
  ]);
  assert.deepEqual(parseKeyValueList("x="), [{ key: "x", value: "" }]);
});

test("parseKeyValue() takes exactly KEY=VALUE and names the flag otherwise", () => {
  assert.deepEqual(parseKeyValue("cr.example=docker.io", "--alias", "HOST=NAME"), [
    "cr.example",
    "docker.io",
  ]);
  for (const bad of ["cr.example", "=docker.io", "cr.example=", ""]) {
    assert.throws(
      () => parseKeyValue(bad, "--alias", "HOST=NAME"),
      (error) =>
        error instanceof UsageError &&
        error.message === `Cannot use --alias "${bad}": expected HOST=NAME`,
      bad,
    );
  }
});
