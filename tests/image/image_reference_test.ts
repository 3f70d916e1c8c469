import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { parseImageReference } from "../../lib/image/image_reference.ts";

const CONTEXT = {
  registries: new Set(["docker.io", "upstream.test"]),
  defaultRegistry: "docker.io",
  libraryRegistries: new Set(["docker.io"]),
};
const DIGEST = `sha256:${"a".repeat(64)}`;

const CASES: Array<[string, Record<string, string>]> = [
  ["nginx", { registry: "docker.io", repository: "library/nginx", tag: "latest" }],
  ["nginx:1.25", { registry: "docker.io", repository: "library/nginx", tag: "1.25" }],
  ["pingcap/tidb:v8.5.0", { registry: "docker.io", repository: "pingcap/tidb", tag: "v8.5.0" }],
  ["upstream.test/test/hello:v1", {
    registry: "upstream.test",
    repository: "test/hello",
    tag: "v1",
  }],
  [`upstream.test/test/hello@${DIGEST}`, {
    registry: "upstream.test",
    repository: "test/hello",
    digest: DIGEST,
  }],
  [`upstream.test/a/b:v2@${DIGEST}`, {
    registry: "upstream.test",
    repository: "a/b",
    tag: "v2",
    digest: DIGEST,
  }],
];

for (const [text, expected] of CASES) {
  test(`parseImageReference() reads "${text}"`, () => {
    assert.deepEqual(parseImageReference(text, CONTEXT), expected);
  });
}

for (
  const [text, why] of [
    ["other.example/x:v1", /not in the registry table/],
    ["upstream.test/Test:v1", /lower-case/],
    ["nginx@sha256:abc", /sha256:<64/],
    ["nginx:bad tag", /valid tag/],
  ] as const
) {
  test(`parseImageReference() refuses "${text}"`, () => {
    assert.throws(
      () => parseImageReference(text, CONTEXT),
      (e) => e instanceof UsageError && why.test(e.message),
    );
  });
}
