import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import bcrypt from "bcryptjs";
import { describe, it, test } from "node:test";
import { ProxyActivity } from "../../../proxy/pages/proxy_activity.ts";
import { renderProxyPage } from "../../../proxy/pages/render_proxy_page.ts";
import { setup } from "../_setup_proxy.ts";

const BROWSER = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
const ACCEPT = "application/vnd.oci.image.manifest.v1+json";
const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>`;

test("renderProxyPage() escapes registry, image, client and upstream strings (attack: XSS through a pull)", () => {
  const pull = { at: 0, image: HOSTILE, client: HOSTILE, status: 200, stale: true };
  const page = renderProxyPage({
    baseUrl: "http://proxy.test",
    registries: [{
      name: HOSTILE,
      url: HOSTILE,
      library: true,
      credentials: true,
      aliases: [HOSTILE],
      isDefault: true,
      upstreamRequests: 1,
      upstreamErrors: 1,
    }],
    cache: { bytes: 0, blobs: 0, manifests: 0, tags: 0, maxBytes: undefined },
    hits: { [HOSTILE]: { hits: 1, misses: 0 } },
    staleTotal: 1,
    upstreamErrorsTotal: 1,
    pulls: [pull],
    staleAnswers: [pull],
    upstreamErrors: [{ at: 0, registry: HOSTILE, method: HOSTILE, url: HOSTILE, status: 503 }],
    logins: false,
  });
  assert.equal(page.match(/<script/gi), null);
  assert.ok(!page.includes("<img src=x"));
  assert.ok(page.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
});

describe("ProxyActivity", () => {
  const route = {
    kind: "manifest" as const,
    registry: "fake.test",
    repository: "team/app",
    clientName: "fake.test/team/app",
    mode: "prefix" as const,
    reference: "v1",
  };
  it("keeps manifest GETs as pulls and answers marked Warning: 110 as stale", () => {
    const activity = new ProxyActivity();
    const at = { method: "GET", client: "10.0.0.9", at: 1 };
    activity.recordAnswer(route, new Response(""), at);
    activity.recordAnswer(
      route,
      new Response("", { headers: { warning: '110 - "Response is Stale"' } }),
      at,
    );
    activity.recordAnswer(route, new Response(""), { ...at, method: "HEAD" });
    activity.recordAnswer({ ...route, reference: "sha256:ab" }, new Response(""), at);
    assert.deepEqual(activity.pulls.map((p) => p.image), [
      "fake.test/team/app@sha256:ab",
      "fake.test/team/app:v1",
      "fake.test/team/app:v1",
    ]);
    assert.deepEqual(activity.staleAnswers.map((p) => p.stale), [true]);
  });
  it("keeps only failed upstream requests, without their query", () => {
    const activity = new ProxyActivity();
    const event = { registry: "r", method: "GET", url: "https://r.test/v2/x/manifests/1?scope=s" };
    activity.recordUpstream({ ...event, status: 200 }, 1);
    activity.recordUpstream({ ...event, status: 404 }, 2);
    activity.recordUpstream({ ...event, status: 503 }, 3);
    activity.recordUpstream({ ...event, status: "error", phase: "body" }, 4);
    assert.deepEqual(activity.upstreamErrors.map((e) => [e.at, e.status, e.url]), [
      [4, "error", "https://r.test/v2/x/manifests/1"],
      [3, 503, "https://r.test/v2/x/manifests/1"],
    ]);
  });
  it("keeps only the newest records", () => {
    const activity = new ProxyActivity({ keep: 3 });
    for (let i = 0; i < 10; i++) {
      activity.recordAnswer(route, new Response(""), { method: "GET", client: String(i), at: i });
    }
    assert.deepEqual(activity.pulls.map((p) => p.client), ["9", "8", "7"]);
  });
});

describe("the proxy's page", () => {
  it("shows the registry table, the cache, recent pulls, stale answers and upstream errors", async () => {
    const { registry, get, clock, config } = setup({
      configure: (c) => {
        c.aliases["fake.example"] = "fake.test";
        c.cache.maxBytes = 1024 * 1024;
      },
    });
    const image = registry.addImage("team/app", "v1", "layer");
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    await (await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT })).arrayBuffer();
    await (await get(`/v2/fake.test/team/app/blobs/${image.layerDigest}`)).arrayBuffer();
    clock.now += config.cache.tagTtlMs * 10;
    registry.failWith = 503;
    const stale = await get("/v2/fake.test/team/app/manifests/v1", { accept: ACCEPT });
    assert.match(stale.headers.get("warning") ?? "", /Stale/);
    const response = await get("/", BROWSER);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(response.headers.get("content-security-policy") ?? "", /^default-src 'none'/);
    const text = await response.text();
    const row = text.slice(text.indexOf('data-registry="fake.test"'));
    assert.match(
      row,
      /<td class="mono">http:\/\/fake\.registry<\/td><td>alias fake\.example<\/td>/,
    );
    assert.match(text, /data-registry="docker\.io"/);
    // Two tag lookups from the cache (the second GET, the stale one), one miss.
    assert.match(text, /id="hit-ratio"><div class="value">[0-9.]+ %</);
    assert.match(text, /cached of 1\.0 MiB/);
    assert.match(text, /1 blobs, 1 manifests, 1 tag answers/);
    const pulls = text.slice(text.indexOf('id="pulls"'), text.indexOf("<h2>Stale answers"));
    assert.equal(pulls.match(/fake\.test\/team\/app:v1/g)?.length, 3);
    const staleTable = text.slice(text.indexOf('id="stale"'), text.indexOf("<h2>Upstream errors"));
    assert.match(staleTable, /fake\.test\/team\/app:v1<span class="badge warn">stale/);
    const errors = text.slice(text.indexOf('id="upstream-errors"'));
    assert.match(
      errors,
      /(?:HEAD|GET) http:\/\/fake\.registry\/v2\/team\/app\/manifests\/v1<\/td><td>503</,
    );
    assert.match(text, /id="stale-total"><div class="value">1</);
  });

  it("answers other clients at / with the OCI 404 it always did", async () => {
    const { get } = setup();
    for (
      const headers of [{}, { accept: "*/*" }, { accept: ACCEPT }, {
        "user-agent": "containerd/2.0",
      }]
    ) {
      const response = await get("/", headers);
      assert.equal(response.status, 404);
      assert.deepEqual([...response.headers], [["content-type", "application/json"]]);
      assert.equal(
        await response.text(),
        '{"errors":[{"code":"NAME_UNKNOWN","message":"Not found"}]}',
      );
    }
  });

  describe("with client logins on", () => {
    const hash = bcrypt.hashSync("right", 4);
    const basic = (user: string, password: string) =>
      `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    for (const tokens of [false, true]) {
      it(`asks a browser for a Basic login${tokens ? " even when clients get tokens" : ""} (attack: reading the page without a login)`, async () => {
        const { get } = setup({
          configure: (c) => {
            c.auth.users = [{ name: "alice", bcryptHash: hash }];
            if (tokens) c.auth.tokenSecret = "s".repeat(32);
          },
        });
        const refused = await get("/", BROWSER);
        assert.equal(refused.status, 401);
        assert.equal(refused.headers.get("www-authenticate"), 'Basic realm="ferry proxy"');
        assert.equal(refused.headers.get("content-type"), "text/html; charset=utf-8");
        const text = await refused.text();
        assert.doesNotMatch(text, /data-registry=/);
        const wrong = await get("/", { ...BROWSER, authorization: basic("alice", "wrong") });
        assert.equal(wrong.status, 401);
        const admitted = await get("/", { ...BROWSER, authorization: basic("alice", "right") });
        assert.equal(admitted.status, 200);
        assert.match(await admitted.text(), /data-registry="fake\.test"/);
      });
    }
  });
});
