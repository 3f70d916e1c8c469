import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acceptClass } from "../../proxy/accept_class.ts";
import { checkManifest, NotAManifestError } from "../../proxy/check_manifest.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const ALL = acceptClass(`${OCI_MANIFEST}, ${OCI_INDEX}, ${DOCKER_V2}, ${DOCKER_LIST}`);

const image = (mediaType?: string) =>
  JSON.stringify({
    schemaVersion: 2,
    ...(mediaType ? { mediaType } : {}),
    config: { digest: "sha256:" + "a".repeat(64), size: 2 },
    layers: [],
  });
const index = (mediaType: string) => JSON.stringify({ schemaVersion: 2, mediaType, manifests: [] });

describe("checkManifest()", () => {
  const accepted: [string, string, string | null, string][] = [
    ["an OCI image manifest", image(OCI_MANIFEST), OCI_MANIFEST, OCI_MANIFEST],
    ["an OCI manifest without its own mediaType", image(), OCI_MANIFEST, OCI_MANIFEST],
    [
      "a Docker v2 manifest with parameters",
      image(DOCKER_V2),
      `${DOCKER_V2}; x=1`,
      `${DOCKER_V2}; x=1`,
    ],
    ["an OCI index", index(OCI_INDEX), OCI_INDEX, OCI_INDEX],
    ["a Docker list without Content-Type", index(DOCKER_LIST), null, DOCKER_LIST],
    ["a schema 1 manifest", '{"schemaVersion":1,"fsLayers":[]}', SCHEMA1, SCHEMA1],
  ];
  for (const [what, body, type, expected] of accepted) {
    it(`accepts ${what}`, () => {
      const bytes = new TextEncoder().encode(body);
      assert.equal(checkManifest(bytes, type, acceptClass("*/*")), expected);
    });
  }

  const refused: [string, string, string | null, ReturnType<typeof acceptClass>][] = [
    ["an HTML error page", "<html>Sign in</html>", "text/html", ALL],
    ["a JSON error body", '{"errors":[{"code":"UNKNOWN"}]}', "application/json", ALL],
    ["a JSON error body labelled a manifest", '{"errors":[]}', OCI_MANIFEST, ALL],
    ["a JSON array", "[]", OCI_MANIFEST, ALL],
    ["bytes that are not UTF-8", "\uFFFD", OCI_MANIFEST, ALL],
    ["a body whose mediaType differs from Content-Type", image(OCI_MANIFEST), OCI_INDEX, ALL],
    ["an index without manifests", JSON.stringify({ schemaVersion: 2 }), OCI_INDEX, ALL],
    ["a manifest without config", '{"schemaVersion":2,"layers":[]}', DOCKER_V2, ALL],
    ["a wrong schemaVersion", '{"schemaVersion":1,"config":{},"layers":[]}', DOCKER_V2, ALL],
    ["a type the client did not accept", image(OCI_MANIFEST), OCI_MANIFEST, acceptClass(DOCKER_V2)],
    ["no media type at all", image(), null, ALL],
  ];
  for (const [what, body, type, accepting] of refused) {
    it(`refuses ${what}`, () => {
      const bytes = body === "\uFFFD"
        ? new Uint8Array([0xff, 0xfe])
        : new TextEncoder().encode(body);
      assert.throws(() => checkManifest(bytes, type, accepting), NotAManifestError);
    });
  }
});

describe("acceptClass()", () => {
  it("is the same class whatever the order and parameters of the header", () => {
    const a = acceptClass(`${OCI_INDEX};q=0.9, ${DOCKER_V2}`);
    const b = acceptClass(`${DOCKER_V2}, ${OCI_INDEX}`);
    assert.equal(a.key, b.key);
    assert.match(a.key, /^accept-[0-9a-f]{16}$/);
  });

  it("tells a list-accepting client from a narrow one", () => {
    assert.deepEqual([...acceptClass(DOCKER_V2).indexTypes], []);
    assert.deepEqual([...acceptClass(`${DOCKER_V2}, ${DOCKER_LIST}`).indexTypes], [DOCKER_LIST]);
    assert.equal(acceptClass("*/*").indexTypes.size, 2);
    assert.notEqual(acceptClass(DOCKER_V2).key, acceptClass(`${DOCKER_V2}, ${DOCKER_LIST}`).key);
  });

  it("answers an empty Accept as registries answer old clients: no index", () => {
    const empty = acceptClass(undefined);
    assert.equal(empty.indexTypes.size, 0);
    assert.ok(empty.types.has(DOCKER_V2));
    assert.notEqual(empty.key, acceptClass("*/*").key);
  });
});
