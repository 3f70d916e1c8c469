/**
 * What /metrics and the access log report: every metric family documented (promtool's lint
 * rule), upstream failures counted where they happen (also mid-body), upstream 404s not
 * counted as rejected downloads, and the access log written when the answer is complete.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AccessRecord } from "../../lib/server/access_log.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig } from "../../proxy/proxy_config.ts";
import { FakeRegistry } from "./_fake_registry.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

function setup(fetch?: typeof globalThis.fetch) {
  const registry = new FakeRegistry();
  const config = defaultProxyConfig();
  config.registries["fake.test"] = { name: "fake.test", url: registry.origin };
  config.upstream.retries = 0;
  const access: AccessRecord[] = [];
  const app = createRegistryProxy(config, {
    fetch: fetch ?? registry.fetch,
    resolveHost: () => Promise.resolve(["93.184.216.34"]),
    storage: new MemoryStorage(),
    onAccess: (_line, record) => access.push(record),
  });
  const get = (path: string) =>
    app.request(`http://proxy.local${path}`, { headers: { accept: OCI_MANIFEST } });
  const metric = async (name: string) => {
    const text = await (await get("/metrics")).text();
    return text.split("\n").filter((l) => l.startsWith(name) && !l.startsWith("#"))
      .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
  };
  return { registry, app, get, access, metric };
}

describe("/metrics", () => {
  it("gives every metric family a HELP and a TYPE line (promtool check metrics)", async () => {
    const { registry, get } = setup();
    const image = registry.addImage("team/app", "v1", "layer");
    await (await get("/v2/fake.test/team/app/manifests/v1")).arrayBuffer();
    await (await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`)).arrayBuffer();
    const text = await (await get("/metrics")).text();
    const help = new Set<string>();
    const type = new Map<string, string>();
    const samples = new Set<string>();
    for (const line of text.split("\n")) {
      const meta = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
      if (meta?.[1] === "HELP") help.add(meta[2]!);
      else if (meta?.[1] === "TYPE") type.set(meta[2]!, meta[3]!);
      else if (line !== "") samples.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]);
    }
    assert.ok(samples.size > 5);
    for (const name of samples) {
      assert.ok(help.has(name), `${name} has # HELP`);
      assert.match(type.get(name) ?? "", /^(counter|gauge)$/, `${name} has # TYPE`);
      if (type.get(name) === "counter") assert.match(name, /_total$/, `${name} ends in _total`);
    }
  });

  it("counts a body that breaks off mid-transfer as an upstream error", async () => {
    const registry = new FakeRegistry();
    const image = registry.addImage("team/app", "v1", "x".repeat(1000));
    const { get, metric } = setup(async (input, init) => {
      const response = await registry.fetch(input, init);
      if (!new URL(new Request(input).url).pathname.includes("/blobs/")) return response;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(10));
          controller.error(new TypeError("connection reset"));
        },
      });
      return new Response(body, { headers: response.headers });
    });
    const response = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    await assert.rejects(response.arrayBuffer());
    assert.equal(await metric("ferry_proxy_upstream_errors_total"), 1);
  });

  it("does not count an upstream 404 as a rejected blob", async () => {
    const { get, metric } = setup();
    const response = await get(`/v2/fake.test/team/app/blobs/sha256:${"a".repeat(64)}`);
    assert.equal(response.status, 404);
    assert.equal(await metric("ferry_proxy_blobs_rejected_total"), 0);
  });
});

describe("the access log", () => {
  it("records an answer once its last byte is out, with the bytes sent", async () => {
    const { registry, get, access } = setup();
    const layer = "y".repeat(100_000);
    const image = registry.addImage("team/app", "v1", layer);
    let release!: () => void;
    registry.blobGate = new Promise((resolve) => (release = resolve));
    const response = await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`);
    assert.equal(response.status, 200);
    assert.equal(access.length, 0, "not logged while the body is still coming");
    release();
    assert.equal((await response.text()).length, layer.length);
    assert.equal(access.length, 1);
    assert.equal(access[0]!.bytes, layer.length);
  });

  it("records the size of a JSON error body", async () => {
    const { get, access } = setup();
    const response = await get("/v2/evil.example/x/manifests/latest");
    const body = await response.text();
    assert.equal(response.status, 403);
    assert.equal(access.length, 1);
    assert.equal(access[0]!.bytes, new TextEncoder().encode(body).length);
    assert.ok(access[0]!.bytes > 0);
  });
});
