import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import bcrypt from "bcryptjs";
import { FakeRegistry, sha256 } from "./_fake_registry.ts";
import { errorCode, setup } from "./_setup_proxy.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const ACCEPT = `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json`;

describe("createRegistryProxy()", () => {
  it("serves a manifest by tag in prefix mode with its exact bytes and digest", async () => {
    const { registry, get } = setup();
    const image = registry.addImage("team/app", "v1", "layer-one");
    const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-content-digest"), image.digest);
    assert.equal(response.headers.get("content-type"), OCI_MANIFEST);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), image.bytes);
    assert.equal(registry.log.at(-1)?.accept, ACCEPT, "Accept is forwarded verbatim");
  });

  it("answers /v2/ with 200 and the API version header", async () => {
    const { get } = setup();
    const response = await get("/v2/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-distribution-api-version"), "registry/2.0");
  });

  it("refuses a registry that is not in the table (never an open proxy)", async () => {
    const { get, registry } = setup();
    const response = await get("/v2/evil.example/x/manifests/latest");
    assert.equal(response.status, 403);
    assert.equal(await errorCode(response), "DENIED");
    assert.equal(registry.log.length, 0);
  });

  it("answers an unroutable path with NAME_UNKNOWN showing the expected form", async () => {
    const { get } = setup();
    const response = await get("/v2/coredns/coredns/manifests/v1");
    assert.equal(response.status, 404);
    const body = await response.json();
    assert.equal(body.errors[0].code, "NAME_UNKNOWN");
    assert.match(body.errors[0].message, /\/v2\/<registry>\/<repository>\/manifests/);
  });

  it("refuses uploads and deletes with UNSUPPORTED", async () => {
    const { app } = setup();
    const post = await app.request("http://proxy.local/v2/fake.test/a/blobs/uploads/", {
      method: "POST",
    });
    assert.equal(post.status, 405);
    assert.equal(await errorCode(post), "UNSUPPORTED");
    const del = await app.request("http://proxy.local/v2/fake.test/a/manifests/v1", {
      method: "DELETE",
    });
    assert.equal(del.status, 405);
  });

  it("routes host-alias, ?ns= and Docker Hub mirror requests", async () => {
    const { registry, get } = setup({
      configure: (config) => {
        config.aliases["fake-alias.example"] = "fake.test";
        config.defaultRegistry = "fake.test";
      },
    });
    const image = registry.addImage("library/hello", "latest", "hello-layer");
    const viaAlias = await get("/v2/library/hello/manifests/latest", {
      accept: ACCEPT,
      host: "fake-alias.example:5000",
    });
    assert.equal(viaAlias.headers.get("docker-content-digest"), image.digest);
    const viaMirror = await get("/v2/hello/manifests/latest", { accept: ACCEPT });
    assert.equal(viaMirror.headers.get("docker-content-digest"), image.digest);
    const viaNs = await get("/v2/library/hello/manifests/latest?ns=fake.test", { accept: ACCEPT });
    assert.equal(viaNs.status, 200);
    assert.equal(viaNs.headers.get("oci-namespace"), "fake.test");
  });

  it("does the upstream Bearer token flow itself and never shows the challenge", async () => {
    const registry = new FakeRegistry({ auth: "bearer" });
    const { get } = setup({ registry });
    const image = registry.addImage("team/app", "v1", "layer");
    for (let i = 0; i < 3; i++) {
      const response = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("www-authenticate"), null);
      assert.equal(await response.text(), "layer");
    }
    const manifest = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(manifest.status, 200);
    assert.equal(registry.tokensIssued.length, 1, "one token per repository scope, reused");
  });

  it("answers DENIED when the upstream refuses the configured credentials", async () => {
    const registry = new FakeRegistry({ auth: "basic" });
    const { get } = setup({ registry });
    registry.addImage("team/app", "v1", "layer");
    const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(response.status, 403);
    assert.equal(await errorCode(response), "DENIED");
    assert.equal(response.headers.get("www-authenticate"), null);
  });

  it("sends Basic credentials to a Basic-auth upstream", async () => {
    const registry = new FakeRegistry({ auth: "basic" });
    const { get } = setup({
      registry,
      configure: (config) => {
        config.registries["fake.test"] = {
          name: "fake.test",
          url: registry.origin,
          username: "alice",
          password: "secret",
        };
      },
    });
    const image = registry.addImage("team/app", "v1", "layer");
    const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-content-digest"), image.digest);
  });

  it("does not forward Authorization to a cross-origin blob redirect", async () => {
    const registry = new FakeRegistry({
      auth: "bearer",
      redirectBlobsTo: "http://cdn.fake.example",
    });
    const { get } = setup({ registry });
    const image = registry.addImage("team/app", "v1", "cdn-layer");
    const response = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "cdn-layer");
    const cdn = registry.log.filter((r) => r.url.startsWith("http://cdn.fake.example"));
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0]?.authorization, null);
  });

  it("rejects a blob whose bytes do not match its digest and does not cache it", async () => {
    const { registry, get, storage } = setup();
    const image = registry.addImage("team/app", "v1", "the real layer bytes");
    registry.corrupt.set(image.layerDigest, new TextEncoder().encode("the FAKE layer bytes"));
    const first = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    await assert.rejects(first.arrayBuffer());
    const cached = [];
    for await (const stat of storage.list("blobs/")) cached.push(stat.path);
    assert.deepEqual(cached, []);
    registry.corrupt.clear();
    const second = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    assert.equal(await second.text(), "the real layer bytes");
    assert.equal(registry.count("GET", "/blobs/"), 2, "the bad copy was not served from cache");
  });

  it("shares one upstream download among concurrent cold requests", async () => {
    const { registry, get } = setup();
    const layer = "x".repeat(300_000);
    const image = registry.addImage("team/big", "v1", layer);
    let open!: () => void;
    registry.blobGate = new Promise((resolve) => (open = resolve));
    const requests = Array.from(
      { length: 20 },
      () => get(`/v2/fake.test/team/big/blobs/${image.layerDigest}`),
    );
    setTimeout(() => open(), 50);
    const bodies = await Promise.all((await Promise.all(requests)).map((r) => r.text()));
    for (const body of bodies) assert.equal(body, layer);
    assert.equal(registry.count("GET", "/blobs/"), 1);
  });

  it("lets a client that fell behind the download continue from the cache", async () => {
    const { registry, get, app } = setup();
    const layer = "y".repeat(10 * 1024 * 1024 + 7);
    const image = registry.addImage("team/big", "v1", layer);
    const slow = await get(`/v2/fake.test/team/big/blobs/${image.layerDigest}`);
    await app.idle(); // the download finishes and is committed while this client reads nothing
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await slow.text(), layer);
    assert.equal(registry.count("GET", "/blobs/"), 1);
  });

  it("serves Range requests on cached blobs", async () => {
    const { registry, get } = setup();
    const image = registry.addImage("team/app", "v1", "0123456789");
    await (await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`)).text();
    const partial = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`, {
      range: "bytes=2-5",
    });
    assert.equal(partial.status, 206);
    assert.equal(partial.headers.get("content-range"), "bytes 2-5/10");
    assert.equal(await partial.text(), "2345");
    const head = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`, {}, "HEAD");
    assert.equal(head.headers.get("content-length"), "10");
    assert.equal(head.headers.get("docker-content-digest"), image.layerDigest);
  });

  it("keeps HEAD as HEAD upstream for a cold blob", async () => {
    const { registry, get } = setup();
    const image = registry.addImage("team/app", "v1", "abc");
    const head = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "3");
    assert.equal(registry.count("HEAD", "/blobs/"), 1);
    assert.equal(registry.count("GET", "/blobs/"), 0);
  });

  it("answers a tag from the cache within the TTL, revalidates with HEAD after it", async () => {
    const { registry, get, clock, config } = setup();
    registry.addImage("team/app", "v1", "layer");
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    assert.equal(registry.log.length, 1, "second answer came from the cache");
    clock.now += config.cache.tagTtlMs + 1;
    const again = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(again.status, 200);
    assert.equal(registry.count("HEAD", "/manifests/v1"), 1);
    assert.equal(registry.count("GET", "/manifests/"), 1);
  });

  it("follows a moved tag after the TTL", async () => {
    const { registry, get, clock, config } = setup();
    registry.addImage("team/app", "v1", "old");
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    const moved = registry.addImage("team/app", "v1", "new");
    clock.now += config.cache.tagTtlMs + 1;
    const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(response.headers.get("docker-content-digest"), moved.digest);
  });

  for (const failure of ["unreachable", "503", "429"] as const) {
    it(`serves a stale tag when the upstream is ${failure}`, async () => {
      const { registry, get, clock, config } = setup();
      const image = registry.addImage("team/app", "v1", "layer");
      await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
      await (await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`)).arrayBuffer();
      clock.now += config.cache.tagTtlMs * 10;
      if (failure === "unreachable") registry.down = true;
      else registry.failWith = Number(failure);
      const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("docker-content-digest"), image.digest);
      assert.match(response.headers.get("warning") ?? "", /Stale/);
      const blob = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
      assert.equal(await blob.text(), "layer");
    });
  }

  it("answers 502 when the upstream is unreachable and nothing is cached", async () => {
    const { registry, get } = setup();
    registry.down = true;
    const response = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.equal(response.status, 502);
    assert.match((await response.json()).errors[0].message, /Cannot reach registry "fake.test"/);
  });

  it("answers MANIFEST_UNKNOWN for a tag the upstream does not have", async () => {
    const { get } = setup();
    const response = await get("/v2/fake.test/team/app/manifests/nope", { accept: ACCEPT });
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), "MANIFEST_UNKNOWN");
  });

  it("serves a digest-pinned manifest and refuses one whose bytes do not match", async () => {
    const { registry, get } = setup();
    const image = registry.addImage("team/app", "v1", "layer");
    const good = await get(`/v2/fake.test/team/app/manifests/${image.digest}`, { accept: ACCEPT });
    assert.equal(good.status, 200);
    const forged = new TextEncoder().encode('{"schemaVersion":2,"forged":true}');
    const claimed = sha256("something else");
    registry.manifests.set(claimed, { type: OCI_MANIFEST, bytes: forged });
    const bad = await get(`/v2/fake.test/team/app/manifests/${claimed}`, { accept: ACCEPT });
    assert.equal(bad.status, 502);
    assert.equal(await errorCode(bad), "DIGEST_INVALID");
  });

  it("rewrites the tags/list Link header to keep the prefix", async () => {
    const { registry, get } = setup();
    for (const tag of ["a", "b", "c"]) registry.addImage("team/app", tag, tag);
    const response = await get("/v2/fake.test/team/app/tags/list?n=2");
    assert.deepEqual((await response.json()).tags, ["a", "b"]);
    assert.equal(
      response.headers.get("link"),
      '</v2/fake.test/team/app/tags/list?last=b&n=2>; rel="next"',
    );
  });

  for (const failure of ["unreachable", "503"] as const) {
    it(`serves the last full tags/list when the upstream is ${failure}`, async () => {
      const { registry, get } = setup();
      for (const tag of ["a", "b"]) registry.addImage("team/app", tag, tag);
      assert.deepEqual((await (await get("/v2/fake.test/team/app/tags/list")).json()).tags, [
        "a",
        "b",
      ]);
      if (failure === "unreachable") registry.down = true;
      else registry.failWith = 503;
      const stale = await get("/v2/fake.test/team/app/tags/list");
      assert.equal(stale.status, 200);
      assert.match(stale.headers.get("warning") ?? "", /Stale/);
      assert.deepEqual((await stale.json()).tags, ["a", "b"]);
      const paged = await get("/v2/fake.test/team/app/tags/list?n=1");
      assert.equal(paged.status, 502, "a paginated listing is never answered from the cache");
    });
  }

  it("refuses repositories outside the allow list and inside the block list", async () => {
    const { registry, get } = setup({
      configure: (config) => {
        config.allow = ["fake.test/team/*"];
        config.block = ["fake.test/team/secret"];
      },
    });
    registry.addImage("team/app", "v1", "l");
    assert.equal(
      (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).status,
      200,
    );
    assert.equal((await get("/v2/fake.test/other/app/manifests/v1")).status, 403);
    assert.equal((await get("/v2/fake.test/team/secret/manifests/v1")).status, 403);
  });

  it("limits the request rate per client", async () => {
    const { get } = setup({
      configure: (config) => (config.rateLimit = { requestsPerSecond: 1, burst: 2 }),
    });
    assert.equal((await get("/v2/")).status, 200);
    assert.equal((await get("/v2/")).status, 200);
    const limited = await get("/v2/");
    assert.equal(limited.status, 429);
    assert.equal(await errorCode(limited), "TOOMANYREQUESTS");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  });

  it("counts requests, cache hits and misses and upstream requests in /metrics", async () => {
    const { registry, get } = setup();
    registry.addImage("team/app", "v1", "l");
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    const text = await (await get("/metrics")).text();
    assert.match(text, /ferry_proxy_cache_hits_total\{kind="tag"\} 1/);
    assert.match(text, /ferry_proxy_cache_misses_total\{kind="tag"\} 1/);
    assert.match(
      text,
      /ferry_proxy_upstream_requests_total\{kind="manifest",method="GET",registry="fake.test",status="200"\} 1/,
    );
    assert.match(text, /ferry_proxy_requests_total\{kind="manifest",method="GET",status="200"\} 2/);
  });
});

describe("createRegistryProxy() client authentication", () => {
  const hash = bcrypt.hashSync("pw", 4);
  const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

  it("asks for Basic credentials and accepts a valid htpasswd user", async () => {
    const { get } = setup({
      configure: (config) => (config.auth.users = [{ name: "bob", bcryptHash: hash }]),
    });
    const anonymous = await get("/v2/");
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("www-authenticate"), 'Basic realm="ferry proxy"');
    assert.equal((await get("/v2/", { authorization: basic("bob", "wrong") })).status, 401);
    assert.equal((await get("/v2/", { authorization: basic("bob", "pw") })).status, 200);
  });

  it("issues signed tokens and rejects a token forged with another secret", async () => {
    const secret = "s".repeat(40);
    const { get, clock } = setup({
      configure: (config) => {
        config.auth.users = [{ name: "bob", bcryptHash: hash }];
        config.auth.tokenSecret = secret;
      },
    });
    const challenge = (await get("/v2/", { host: "proxy.local" })).headers.get("www-authenticate");
    assert.match(challenge ?? "", /^Bearer realm="http:\/\/proxy\.local\/auth\/token"/);
    assert.equal((await get("/auth/token", { authorization: basic("bob", "nope") })).status, 401);
    const issued = await (await get("/auth/token", { authorization: basic("bob", "pw") })).json();
    assert.equal((await get("/v2/", { authorization: `Bearer ${issued.token}` })).status, 200);

    const [header, payload] = issued.token.split(".");
    const { createHmac } = await import("node:crypto");
    const forgedSignature = createHmac("sha256", "another secret entirely, 40 chars long!")
      .update(`${header}.${payload}`).digest("base64url");
    const forged = `${header}.${payload}.${forgedSignature}`;
    assert.equal((await get("/v2/", { authorization: `Bearer ${forged}` })).status, 401);

    clock.now += 16 * 60_000;
    assert.equal(
      (await get("/v2/", { authorization: `Bearer ${issued.token}` })).status,
      401,
      "an expired token is refused",
    );
  });
});
