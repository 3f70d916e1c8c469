import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type BundleNameContext,
  resolveBundleName,
} from "../../../lib/server/oci/resolve_bundle_name.ts";

const BASE: BundleNameContext = {
  registries: new Set(["docker.io", "upstream.test"]),
  libraryRegistries: new Set(["docker.io"]),
};

const CASES: Array<[string, string, Partial<BundleNameContext>, string | undefined]> = [
  ["prefix mode", "upstream.test/test/hello", {}, "upstream.test/test/hello"],
  [
    "prefix mode adds library/ for a library registry",
    "docker.io/nginx",
    {},
    "docker.io/library/nginx",
  ],
  ["mirror mode", "pingcap/tidb", { defaultRegistry: "docker.io" }, "docker.io/pingcap/tidb"],
  [
    "mirror mode adds library/",
    "nginx",
    { defaultRegistry: "upstream.test" },
    "upstream.test/library/nginx",
  ],
  ["?ns= decides the registry", "test/hello", { ns: "upstream.test" }, "upstream.test/test/hello"],
  [
    "?ns= with a matching first component",
    "upstream.test/test/hello",
    { ns: "upstream.test" },
    "upstream.test/test/hello",
  ],
  ["host alias", "test/hello", {
    host: "up.example:5000",
    aliases: { "up.example": "upstream.test" },
  }, "upstream.test/test/hello"],
  ["no registry and no default", "test/hello", {}, undefined],
  ["a registry name alone", "upstream.test", {}, undefined],
];

for (const [what, name, context, expected] of CASES) {
  test(`resolveBundleName(): ${what}`, () => {
    assert.equal(resolveBundleName(name.split("/"), { ...BASE, ...context }), expected);
  });
}
