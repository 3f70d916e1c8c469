import assert from "node:assert/strict";
import { test } from "node:test";
import { cacheControlFor, contentTypeFor } from "../../lib/server/cache_policy.ts";

const IMMUTABLE = "public, max-age=31536000, immutable";

const CACHE_CASES: Array<[string, string]> = [
  ["1.root.json", IMMUTABLE],
  ["12.index.json", IMMUTABLE],
  ["3.tidb.json", IMMUTABLE],
  ["bin/7.pd.json", IMMUTABLE],
  ["tidb-v7.5.0-linux-amd64.tar.gz", IMMUTABLE],
  ["hello-v0.0.1-darwin-arm64.tar.gz", IMMUTABLE],
  ["tiup-v1.16.1-linux-amd64.tar.gz", IMMUTABLE],
  ["tidb-nightly-20240101-linux-amd64.tar.gz", IMMUTABLE],
  ["bin/tikv-v8.1.0-linux-arm64.tar.gz", IMMUTABLE],
  ["root.json", "no-cache"],
  ["snapshot.json", "no-cache"],
  ["timestamp.json", "no-cache"],
  ["index.json", "no-cache"],
  ["tiup-linux-amd64.tar.gz", "no-cache"],
  ["install.sh", "no-cache"],
  ["root.json.bak", "no-cache"],
  ["x.1.json", "no-cache"],
];

for (const [path, expected] of CACHE_CASES) {
  test(`cacheControlFor() gives "${path}" ${expected === IMMUTABLE ? "immutable" : "no-cache"}`, () => {
    assert.equal(cacheControlFor(path), expected);
  });
}

test("contentTypeFor() maps mirror file names to media types", () => {
  assert.equal(contentTypeFor("1.root.json"), "application/json");
  assert.equal(contentTypeFor("a-v1-linux-amd64.tar.gz"), "application/gzip");
  assert.equal(contentTypeFor("a.tgz"), "application/gzip");
  assert.equal(contentTypeFor("install.sh"), "text/x-shellscript; charset=utf-8");
  assert.equal(contentTypeFor("README.md"), "text/plain; charset=utf-8");
  assert.equal(contentTypeFor("index.html"), "text/html; charset=utf-8");
  assert.equal(contentTypeFor("ca.pem"), "application/x-pem-file");
  assert.equal(contentTypeFor("blob"), "application/octet-stream");
  assert.equal(contentTypeFor("json"), "application/octet-stream");
});
