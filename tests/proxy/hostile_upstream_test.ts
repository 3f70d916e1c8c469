/**
 * Attacks by the upstream on the proxy's secrets and network: redirects that try to collect the
 * configured credentials, and redirects into loopback or private networks (SSRF). The hostile
 * upstream is a small fetch handler in each test, reached through the injected fetch; host
 * names resolve through an injected table, so "public" and "private" are the test's to choose.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig, type RegistryEntry } from "../../proxy/proxy_config.ts";
import { sha256 } from "./_fake_registry.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const MANIFEST = new TextEncoder().encode(
  `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:${
    "0".repeat(64)
  }","size":2},"layers":[]}`,
);
const BASIC = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;

/** Host → addresses; anything else does not resolve. */
const ADDRESSES: Record<string, string[]> = {
  "registry.example": ["93.184.216.34"],
  localhost: ["127.0.0.1", "::1"],
  "other.example": ["198.51.100.7"],
  "auth.example": ["198.51.100.8"],
  "internal.example": ["192.168.1.5"],
  "sneaky.example": ["93.184.216.35", "10.1.2.3"],
  "lan-registry.example": ["10.0.0.5"],
  "lan-cdn.example": ["10.0.0.6"],
};

interface Seen {
  url: string;
  authorization: string | null;
}

/** A proxy in front of `handle`, the hostile upstream. */
function setup(
  handle: (request: Request, url: URL) => Response | Promise<Response>,
  registry: Partial<RegistryEntry> = {},
) {
  const seen: Seen[] = [];
  const config = defaultProxyConfig();
  config.registries["hostile.test"] = {
    name: "hostile.test",
    url: "http://registry.example",
    username: "alice",
    password: "s3cret",
    ...registry,
  };
  config.upstream.retries = 0;
  config.upstream.timeoutMs = 2000;
  const storage = new MemoryStorage();
  const logs: string[] = [];
  const app = createRegistryProxy(config, {
    onLog: (line) => logs.push(line),
    fetch: async (input, init) => {
      const request = new Request(input, init);
      seen.push({ url: request.url, authorization: request.headers.get("authorization") });
      return await handle(request, new URL(request.url));
    },
    resolveHost: (host) => {
      const found = ADDRESSES[host];
      return found ? Promise.resolve(found) : Promise.reject(new Error(`ENOTFOUND ${host}`));
    },
    storage,
  });
  const get = async (path: string) => {
    const response = await app.request(`http://proxy.local${path}`, {
      headers: { accept: OCI_MANIFEST },
    });
    await app.idle();
    return response;
  };
  const cachedKeys = async () => {
    const keys = [];
    for await (const stat of storage.list("")) keys.push(stat.path);
    return keys;
  };
  return { seen, get, cachedKeys, logs };
}

function manifest(): Response {
  return new Response(MANIFEST.slice(), {
    headers: { "content-type": OCI_MANIFEST, "docker-content-digest": sha256(MANIFEST) },
  });
}

function challenge(realm: string): Response {
  return Response.json({ errors: [{ code: "UNAUTHORIZED", message: "auth" }] }, {
    status: 401,
    headers: { "www-authenticate": `Bearer realm="${realm}",service="evil"` },
  });
}

describe("upstream credentials", () => {
  it("are not sent to a token realm named by a redirect target (credential theft)", async () => {
    const { seen, get } = setup((request, url) => {
      if (url.host === "registry.example") {
        return new Response(null, {
          status: 307,
          headers: { location: `http://other.example${url.pathname}` },
        });
      }
      if (url.pathname === "/token") return Response.json({ token: "stolen", expires_in: 300 });
      if (request.headers.get("authorization") === "Bearer stolen") return manifest();
      return challenge("http://other.example/token");
    });
    const first = await get("/v2/hostile.test/team/app/manifests/v1");
    assert.equal(first.status, 403, "the redirect target's challenge is not answered");
    const second = await get("/v2/hostile.test/team/other/manifests/v1");
    assert.equal(second.status, 403);
    const toOther = seen.filter((s) => s.url.startsWith("http://other.example"));
    assert.ok(toOther.length > 0);
    assert.deepEqual(toOther.filter((s) => s.authorization !== null), [], "no credentials left");
    assert.equal(
      seen.filter((s) => s.url.startsWith("http://other.example/token")).length,
      0,
      "a challenge from another origin is never used (nor kept for other repositories)",
    );
  });

  it("go to the registry's own realm, and elsewhere only to realms the config names", async () => {
    const handle = (realm: string) => (request: Request, url: URL) => {
      if (url.pathname.endsWith("/token")) return Response.json({ token: "t", expires_in: 300 });
      if (request.headers.get("authorization") === "Bearer t") return manifest();
      return challenge(realm);
    };
    const own = setup(handle("http://registry.example/token"));
    assert.equal((await own.get("/v2/hostile.test/a/manifests/v1")).status, 200);
    assert.equal(own.seen.find((s) => s.url.includes("/token?"))?.authorization, BASIC);

    const foreign = setup(handle("http://auth.example/token"));
    assert.equal((await foreign.get("/v2/hostile.test/a/manifests/v1")).status, 200);
    const anonymous = foreign.seen.find((s) => s.url.includes("/token?"));
    assert.equal(anonymous?.authorization, null, "an unnamed realm gets an anonymous request");
    assert.match(foreign.logs.join("\n"), /add it to tokenRealms/, "the operator is told why");

    const named = setup(handle("http://auth.example/token"), {
      tokenRealms: ["http://auth.example/token"],
    });
    assert.equal((await named.get("/v2/hostile.test/a/manifests/v1")).status, 200);
    assert.equal(named.seen.find((s) => s.url.includes("/token?"))?.authorization, BASIC);
  });
});

describe("redirects into private networks (SSRF)", () => {
  const targets = [
    "http://127.0.0.1:5000/secret",
    "http://localhost:5000/secret",
    "http://[::1]/secret",
    "http://[::ffff:127.0.0.1]/secret",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.8/secret",
    "http://[fd00::1]/secret",
    "http://[fe80::1]/secret",
    "http://0.0.0.0/secret",
    "http://2130706433/secret",
    "http://internal.example/secret",
    "http://sneaky.example/secret",
  ];
  for (const target of targets) {
    it(`refuses a redirect to ${target} and caches nothing`, async () => {
      const { seen, get, cachedKeys } = setup((_request, url) => {
        if (url.host === "registry.example") {
          return new Response(null, { status: 302, headers: { location: target } });
        }
        return manifest(); // what an internal service would hand out
      });
      const response = await get("/v2/hostile.test/team/app/manifests/v1");
      assert.equal(response.status, 502);
      assert.match((await response.json()).errors[0].message, /refused|cannot be resolved/);
      assert.deepEqual(seen.map((s) => new URL(s.url).host), ["registry.example"]);
      assert.deepEqual(await cachedKeys(), []);
    });
  }

  it("refuses a token realm in a private network and asks nothing there", async () => {
    const { seen, get } = setup(() => challenge("http://169.254.169.254/latest/token"));
    const response = await get("/v2/hostile.test/team/app/manifests/v1");
    assert.equal(response.status, 502);
    assert.deepEqual(seen.map((s) => new URL(s.url).host), ["registry.example"]);
  });

  it("allows a redirect within the private network the registry itself is in", async () => {
    const { get } = setup((_request, url) => {
      if (url.host === "lan-registry.example") {
        return new Response(null, {
          status: 302,
          headers: { location: `http://lan-cdn.example${url.pathname}` },
        });
      }
      return manifest();
    }, { url: "http://lan-registry.example" });
    const response = await get("/v2/hostile.test/team/app/manifests/v1");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("docker-content-digest"), sha256(MANIFEST));
  });

  it("still verifies a redirected manifest against its digest", async () => {
    const { get, cachedKeys } = setup((_request, url) => {
      if (url.host === "registry.example") {
        return new Response(null, {
          status: 302,
          headers: { location: `http://other.example${url.pathname}` },
        });
      }
      return new Response(`${new TextDecoder().decode(MANIFEST)} `, {
        headers: { "content-type": OCI_MANIFEST },
      });
    });
    const response = await get(`/v2/hostile.test/team/app/manifests/${sha256(MANIFEST)}`);
    assert.equal(response.status, 502);
    assert.equal((await response.json()).errors[0].code, "DIGEST_INVALID");
    assert.deepEqual(await cachedKeys(), []);
  });
});
