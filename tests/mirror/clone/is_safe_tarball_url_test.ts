import assert from "node:assert/strict";
import { test } from "node:test";
import { isSafeTarballUrl } from "../../../lib/mirror/clone/is_safe_tarball_url.ts";

test("isSafeTarballUrl() accepts TiUP's flat tarball names", () => {
  for (const url of ["/tidb-v7.5.0-linux-amd64.tar.gz", "/hello-v0.0.1+b1-any-any.tar.gz"]) {
    assert.equal(isSafeTarballUrl(url), true, url);
  }
});

const ATTACKS: Array<[string, string]> = [
  ["overwriting the clone's keys", "/keys/0123456789abcdef-root.json"],
  ["replacing the trust anchor", "/root.json"],
  ["replacing the timestamp", "/timestamp.json"],
  ["planting a versioned manifest", "/9.index.json"],
  ["replacing the offline installer", "/local_install.sh"],
  ["path traversal", "/../../etc/passwd"],
  ["a dotfile (the journal)", "/.ferry-staging/verified.json"],
  ["the writer's lock", "/lock"],
  ["a relative url", "tidb.tar.gz"],
  ["an empty name", "/"],
];
for (const [attack, url] of ATTACKS) {
  test(`isSafeTarballUrl() refuses ${attack}: "${url}"`, () => {
    assert.equal(isSafeTarballUrl(url), false);
  });
}
