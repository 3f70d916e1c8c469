/**
 * Tag answers under hostile or failing upstreams: what may be cached as a tag's manifest, HEAD
 * resolution for containerd, answers per Accept class, and one upstream fetch per cold tag.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorCode, setup } from "./_setup_proxy.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** What containerd sends. */
const FULL_ACCEPT = `${DOCKER_V2}, ${DOCKER_LIST}, ${OCI_MANIFEST}, ${OCI_INDEX}, */*`;
const TTL_PASSED = 10 * 60_000;

async function tagKeys(storage: { list(prefix: string): AsyncIterable<{ path: string }> }) {
  const keys: string[] = [];
  for await (const stat of storage.list("tags/")) keys.push(stat.path);
  return keys;
}

describe("serveManifest() under a hostile upstream", () => {
  const errorPages: [string, string, string][] = [
    ["a 200 text/html page", "text/html; charset=utf-8", "<html><body>Sign in</body></html>"],
    [
      "a 200 JSON error body",
      "application/json",
      '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
    ],
    [
      "a 200 JSON error body labelled as a manifest",
      OCI_MANIFEST,
      '{"errors":[{"code":"UNKNOWN","message":"backend down"}]}',
    ],
    [
      "a manifest whose Content-Type is not its mediaType",
      OCI_INDEX,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{},"layers":[]}`,
    ],
  ];
  for (const [what, type, body] of errorPages) {
    it(`does not cache ${what} as a cold tag's manifest`, async () => {
      const { registry, get, storage } = setup();
      registry.addImage("team/app", "v1", "layer");
      registry.override = (request) =>
        request.url.includes("/manifests/")
          ? new Response(body, { headers: { "content-type": type } })
          : undefined;
      const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: FULL_ACCEPT });
      assert.equal(response.status, 502);
      assert.equal(await errorCode(response), "MANIFEST_INVALID");
      assert.deepEqual(await tagKeys(storage), [], "nothing recorded for the tag");
      registry.down = true;
      const later = await get("/v2/fake.test/team/app/manifests/v1", { accept: FULL_ACCEPT });
      assert.notEqual(later.status, 200, "the error page is never served as the manifest");
    });

    it(`serves the cached manifest, not ${what}, when revalidation gets one`, async () => {
      const { registry, get, clock } = setup();
      const image = registry.addImage("team/app", "v1", "layer");
      const path = "/v2/fake.test/team/app/manifests/v1";
      assert.equal((await get(path, { accept: FULL_ACCEPT })).status, 200);
      clock.now += TTL_PASSED;
      registry.override = (request) =>
        request.url.includes("/manifests/")
          ? new Response(request.method === "HEAD" ? null : body, {
            headers: { "content-type": type },
          })
          : undefined;
      const stale = await get(path, { accept: FULL_ACCEPT });
      assert.equal(stale.status, 200);
      assert.equal(stale.headers.get("docker-content-digest"), image.digest);
      registry.down = true;
      clock.now += TTL_PASSED;
      const offline = await get(path, { accept: FULL_ACCEPT });
      assert.equal(offline.status, 200);
      assert.deepEqual(new Uint8Array(await offline.arrayBuffer()), image.bytes);
    });
  }

  it("refuses a manifest of a type the client did not accept", async () => {
    const { registry, get, storage } = setup();
    registry.addImage("team/app", "v1", "layer");
    registry.override = (request) =>
      request.url.includes("/manifests/")
        ? new Response(registry.manifests.values().next().value!.bytes.slice(), {
          headers: { "content-type": OCI_MANIFEST },
        })
        : undefined;
    const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: DOCKER_V2 });
    assert.equal(response.status, 502);
    assert.deepEqual(await tagKeys(storage), []);
  });
});

describe("serveManifest() for containerd", () => {
  it("resolves a tag by HEAD from the cache when the upstream is down after a cold HEAD", async () => {
    const { registry, get, clock } = setup();
    const image = registry.addImage("team/app", "v1", "layer");
    const path = "/v2/fake.test/team/app/manifests/v1";
    const cold = await get(path, { accept: FULL_ACCEPT }, "HEAD");
    assert.equal(cold.status, 200);
    assert.equal(cold.headers.get("docker-content-digest"), image.digest);
    assert.equal(cold.headers.get("content-length"), String(image.bytes.length));
    registry.down = true;
    clock.now += TTL_PASSED;
    const head = await get(path, { accept: FULL_ACCEPT }, "HEAD");
    assert.equal(head.status, 200, "the tag was recorded by the cold HEAD");
    assert.equal(head.headers.get("docker-content-digest"), image.digest);
    const byDigest = await get(`/v2/fake.test/team/app/manifests/${image.digest}`, {
      accept: FULL_ACCEPT,
    });
    assert.equal(byDigest.status, 200, "the manifest itself was cached by the cold HEAD");
  });
});

describe("serveManifest() per Accept class", () => {
  it("does not let a Docker-v2-only client decide what full-Accept clients get", async () => {
    const { registry, get, clock } = setup();
    const list = registry.addList("team/multi", "v1");
    const path = "/v2/fake.test/team/multi/manifests/v1";
    const narrow = await get(path, { accept: DOCKER_V2 });
    assert.equal(narrow.headers.get("docker-content-digest"), list.amd64);
    const full = await get(path, { accept: FULL_ACCEPT });
    assert.equal(full.status, 200);
    assert.equal(full.headers.get("docker-content-digest"), list.digest, "the list, not amd64");
    assert.equal(full.headers.get("content-type"), DOCKER_LIST);

    registry.down = true;
    clock.now += TTL_PASSED;
    const offlineFull = await get(path, { accept: FULL_ACCEPT });
    assert.equal(offlineFull.headers.get("docker-content-digest"), list.digest);
    const offlineNarrow = await get(path, { accept: DOCKER_V2 });
    assert.equal(offlineNarrow.headers.get("docker-content-digest"), list.amd64);
  });

  it("never answers a list-accepting client with a single-platform manifest it did not ask for", async () => {
    const { registry, get } = setup();
    const list = registry.addList("team/multi", "v1");
    const path = "/v2/fake.test/team/multi/manifests/v1";
    await get(path, { accept: DOCKER_V2 });
    registry.down = true;
    const full = await get(path, { accept: FULL_ACCEPT });
    assert.notEqual(full.headers.get("docker-content-digest"), list.amd64);
    assert.equal(full.status, 502);
  });

  it("gives a narrower client a list's answer only when it accepts lists", async () => {
    const { registry, get } = setup();
    const list = registry.addList("team/multi", "v1");
    const path = "/v2/fake.test/team/multi/manifests/v1";
    await get(path, { accept: FULL_ACCEPT });
    const listOnly = await get(path, { accept: `${DOCKER_LIST}, ${DOCKER_V2}` });
    assert.equal(listOnly.headers.get("docker-content-digest"), list.digest);
    const narrow = await get(path, { accept: DOCKER_V2 });
    assert.equal(narrow.headers.get("docker-content-digest"), list.amd64);
  });
});

describe("serveManifest() with concurrent cold pulls", () => {
  /** Sends `n` concurrent GETs of `path` while the upstream holds its manifest answers. */
  async function pullAtOnce(context: ReturnType<typeof setup>, path: string, n: number) {
    const { registry, app } = context;
    let release!: () => void;
    registry.manifestGate = new Promise<void>((resolve) => (release = resolve));
    const pulls = Array.from(
      { length: n },
      () => app.request(`http://proxy.local${path}`, { headers: { accept: FULL_ACCEPT } }),
    );
    // Give every request the time to reach the upstream (all n do without coalescing).
    for (let i = 0; i < 50 && registry.count("GET", "/manifests/") < n; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    release();
    const responses = await Promise.all(pulls);
    await app.idle();
    return responses;
  }

  it("makes one upstream manifest GET for N concurrent cold pulls of a tag", async () => {
    const context = setup();
    const image = context.registry.addImage("team/app", "v1", "layer");
    for (const response of await pullAtOnce(context, "/v2/fake.test/team/app/manifests/v1", 8)) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("docker-content-digest"), image.digest);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), image.bytes);
    }
    assert.equal(context.registry.count("GET", "/manifests/"), 1);
  });

  it("makes one upstream GET for N concurrent cold pulls of a manifest by digest", async () => {
    const context = setup();
    const image = context.registry.addImage("team/app", "v1", "layer");
    const path = `/v2/fake.test/team/app/manifests/${image.digest}`;
    for (const response of await pullAtOnce(context, path, 4)) {
      assert.equal(response.status, 200);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), image.bytes);
    }
    assert.equal(context.registry.count("GET", "/manifests/"), 1);
  });
});
