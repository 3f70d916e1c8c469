import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { INVENTORY_PATH } from "../../../lib/image/inventory.ts";
import { saveImages } from "../../../lib/image/save_images.ts";
import { createOciHandler } from "../../../lib/server/oci/create_oci_handler.ts";
import { readBytes } from "../../../lib/storage/read_bytes.ts";
import type { MemoryStorage } from "../../../lib/storage/memory_storage.ts";
import { emptyBundle } from "../../image/_bundle_fixture.ts";
import { MemoryRegistry, OCI_INDEX, OCI_MANIFEST } from "../../image/_memory_registry.ts";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

let storage: MemoryStorage;
let handler: (request: Request) => Promise<Response>;
let index: { digest: string };
let amd64: { digest: string };
let layer: string;
let otherLayer: string;
let referrer: string;

function get(path: string, headers: Record<string, string> = {}, method = "GET") {
  return handler(new Request(`http://bundle.test${path}`, { method, headers }));
}

async function errorCode(response: Response): Promise<string> {
  return (await response.json()).errors[0].code;
}

before(async () => {
  const registry = new MemoryRegistry();
  const a = registry.image("app", undefined, "amd64");
  amd64 = a;
  const arm = registry.image("app", undefined, "arm64");
  index = registry.manifest("app", "v1", {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...a, platform: { os: "linux", architecture: "amd64" } },
      { ...arm, platform: { os: "linux", architecture: "arm64" } },
    ],
  }, OCI_INDEX);
  const amdManifest = JSON.parse(new TextDecoder().decode(registry.manifests.get(a.digest)!.bytes));
  layer = amdManifest.layers[0].digest;
  const other = registry.image("other", "v1", "other");
  otherLayer = JSON.parse(new TextDecoder().decode(registry.manifests.get(other.digest)!.bytes))
    .layers[0].digest;
  // An OCI 1.1 referrer of the index, found through the fallback tag.
  const sbom = registry.manifest("app", undefined, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: "application/vnd.example.sbom",
    config: registry.blob("{}", "application/vnd.oci.empty.v1+json"),
    layers: [registry.blob("sbom")],
    subject: index,
  });
  referrer = sbom.digest;
  registry.manifest("app", `sha256-${index.digest.slice(7)}`, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [sbom],
  }, OCI_INDEX);
  storage = await emptyBundle();
  await saveImages(storage, [
    { registry: "reg.test", repository: "app", tag: "v1" },
    { registry: "reg.test", repository: "other", tag: "v1" },
  ], { clients: () => registry });
  handler = createOciHandler(storage, { defaultRegistry: "reg.test" });
});

describe("createOciHandler()", () => {
  test("answers the /v2/ ping with the API version header", async () => {
    const response = await get("/v2/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-distribution-api-version"), "registry/2.0");
  });

  test("serves a tag byte for byte with its digest and type", async () => {
    const response = await get("/v2/reg.test/app/manifests/v1", { accept: OCI_INDEX });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), OCI_INDEX);
    assert.equal(response.headers.get("docker-content-digest"), index.digest);
    const bytes = new Uint8Array(await response.arrayBuffer());
    assert.deepEqual(bytes, await readBytes(storage, `blobs/sha256/${index.digest.slice(7)}`));
  });

  test("HEAD of a manifest has the headers and no body", async () => {
    const response = await get("/v2/reg.test/app/manifests/v1", {}, "HEAD");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-content-digest"), index.digest);
    assert.equal((await response.arrayBuffer()).byteLength, 0);
  });

  test("gives a client that takes no index the linux/amd64 manifest", async () => {
    const response = await get("/v2/reg.test/app/manifests/v1", { accept: OCI_MANIFEST });
    assert.equal(response.headers.get("docker-content-digest"), amd64.digest);
  });

  test("refuses a tag whose type the client does not accept with MANIFEST_UNKNOWN", async () => {
    const response = await get("/v2/reg.test/app/manifests/v1", { accept: DOCKER_MANIFEST });
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), "MANIFEST_UNKNOWN");
  });

  test("serves a manifest by digest and a blob with a Range", async () => {
    assert.equal((await get(`/v2/reg.test/app/manifests/${amd64.digest}`)).status, 200);
    const response = await get(`/v2/reg.test/app/blobs/${layer}`, { range: "bytes=1-3" });
    assert.equal(response.status, 206);
    assert.equal(await response.text(), "aye"); // "layer amd64", bytes 1 to 3
  });

  test("?ns= names the registry; the default registry adds library/ as the proxy does", async () => {
    assert.equal((await get("/v2/app/manifests/v1?ns=reg.test")).status, 200);
    assert.equal(await errorCode(await get("/v2/app/manifests/v1")), "NAME_UNKNOWN");
  });

  test("lists tags, the catalog and referrers", async () => {
    const tags = await (await get("/v2/reg.test/app/tags/list")).json();
    assert.deepEqual(tags.tags, [`sha256-${index.digest.slice(7)}`, "v1"]);
    const paged = await (await get("/v2/reg.test/app/tags/list?n=1")).json();
    assert.equal(paged.tags.length, 1);
    const catalog = await (await get("/v2/_catalog")).json();
    assert.deepEqual(catalog.repositories, ["reg.test/app", "reg.test/other"]);
    const referrers = await (await get(`/v2/reg.test/app/referrers/${index.digest}`)).json();
    assert.deepEqual(referrers.manifests.map((m: { digest: string }) => m.digest), [referrer]);
    const filtered = await get(
      `/v2/reg.test/app/referrers/${index.digest}?artifactType=application/other`,
    );
    assert.equal(filtered.headers.get("oci-filters-applied"), "artifactType");
    assert.deepEqual((await filtered.json()).manifests, []);
  });

  test("does not serve another repository's blob under this name (BLOB_UNKNOWN)", async () => {
    const response = await get(`/v2/reg.test/app/blobs/${otherLayer}`);
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), "BLOB_UNKNOWN");
  });

  test("answers OCI errors for unknown names, bad digests and writes", async () => {
    assert.equal(await errorCode(await get("/v2/reg.test/nope/tags/list")), "NAME_UNKNOWN");
    const bad = await get("/v2/reg.test/app/blobs/sha256:xyz");
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), "DIGEST_INVALID");
    const put = await get("/v2/reg.test/app/manifests/v2", {}, "PUT");
    assert.equal(put.status, 405);
    assert.equal(await errorCode(put), "UNSUPPORTED");
  });

  test("serves nothing from a tampered inventory", async () => {
    const copy = await emptyBundle();
    for await (const file of storage.list("")) {
      if (file.path.startsWith("blobs/") || file.path === INVENTORY_PATH) {
        await copy.write(file.path, await readBytes(storage, file.path));
      }
    }
    // The copy's own root did not sign this inventory: as good as a forged one.
    const served = createOciHandler(copy, { defaultRegistry: "reg.test" });
    const response = await served(new Request("http://bundle.test/v2/reg.test/app/manifests/v1"));
    assert.equal(response.status, 500);
    assert.match((await response.json()).errors[0].message, /does not verify/);
  });
});
