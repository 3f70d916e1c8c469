/**
 * examples/proxy.yaml is the README's complete proxy config: it must parse with the real parser,
 * and every pull the README and the example's comments promise must reach the upstream URL they
 * say (prefix, host alias, Docker Hub mirror, containerd's ?ns=, podman's prefix location).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { parseProxyConfig } from "../../proxy/parse_proxy_config.ts";
import type { ProxyConfig } from "../../proxy/proxy_config.ts";

const EXAMPLE = nodePath.resolve(
  nodePath.dirname(fileURLToPath(import.meta.url)),
  "../../examples/proxy.yaml",
);
/** The files the example names, as its comments say to create them. */
const FILES: Record<string, string> = {
  "ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  "users.htpasswd": "alice:$2y$05$abcdefghijklmnopqrstuuXyS0Cq1hJX6Vg9xuLnE6aiWsbYbSqqC\n",
  "token-secret.txt": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
  "metrics-token.txt": "fedcba9876543210fedcba9876543210\n",
};

async function loadExample(): Promise<ProxyConfig> {
  return await parseProxyConfig(await readFile(EXAMPLE, "utf8"), {
    source: "examples/proxy.yaml",
    readFile: (path) =>
      path in FILES
        ? Promise.resolve(FILES[path]!)
        : Promise.reject(Object.assign(new Error(path), { code: "ENOENT" })),
  });
}

/** The example's proxy without client auth, its upstream requests recorded (all answer 404). */
function proxyOf(config: ProxyConfig) {
  config.auth = { users: [], tokenTtlMs: config.auth.tokenTtlMs };
  delete config.rateLimit;
  config.upstream.retries = 0;
  const upstream: string[] = [];
  const app = createRegistryProxy(config, {
    fetch: (input, init) => {
      upstream.push(new Request(input, init).url);
      return Promise.resolve(new Response("{}", { status: 404 }));
    },
    storage: new MemoryStorage(),
  });
  const pull = async (path: string, host = "cr.example:5000") => {
    upstream.length = 0;
    const response = await app.request(`https://cr.example:5000${path}`, {
      headers: { host },
    });
    await app.idle();
    return { status: response.status, upstream: [...upstream], response };
  };
  return { pull };
}

describe("examples/proxy.yaml", () => {
  it("parses with every option set", async () => {
    const config = await loadExample();
    assert.equal(config.defaultRegistry, "docker.io");
    assert.deepEqual(config.registries["my.reg"], {
      name: "my.reg",
      url: "https://10.0.0.5:5000",
      ca: FILES["ca.pem"],
      username: "robot",
      password: "change-me",
      tokenRealms: ["https://auth.my.example/token"],
    });
    assert.equal(config.registries["lab.local"]?.url, "http://192.168.1.20:5000", "plain http");
    assert.deepEqual(config.registries["docker.io"], {
      name: "docker.io",
      url: "https://hub-cache.corp.example",
      library: true,
    }, "an entry named like a built-in replaces it");
    assert.equal(config.registries["quay.io"]?.url, "https://quay.io", "built-ins stay");
    assert.deepEqual(config.aliases, {
      "k8s-gcr.cr.example": "k8s.gcr.io",
      "quay.cr.example": "quay.io",
    });
    assert.equal(config.allow.length, 5);
    assert.deepEqual(config.block, ["**/private/*"]);
    assert.deepEqual(config.cache, { tagTtlMs: 300_000, maxBytes: 50 * 1024 ** 3 });
    assert.deepEqual(config.upstream, {
      timeoutMs: 30_000,
      retries: 2,
      revalidateTimeoutMs: 3_000,
      breakerFailures: 3,
      breakerCooldownMs: 15_000,
    });
    assert.equal(config.metricsToken, FILES["metrics-token.txt"]!.trim());
    assert.deepEqual(config.auth.users.map((u) => u.name), ["alice", "bob"]);
    assert.equal(config.auth.tokenSecret, FILES["token-secret.txt"]!.trim());
    assert.equal(config.auth.tokenTtlMs, 900_000);
    assert.deepEqual(config.rateLimit, { requestsPerSecond: 50, burst: 100 });
  });

  // [what the client asks the proxy for, Host header, the upstream URL it must reach]
  const pulls: Array<[string, string, string, string]> = [
    [
      "prefix: docker pull cr.example:5000/my.reg/team/app:v1",
      "/v2/my.reg/team/app/manifests/v1",
      "cr.example:5000",
      "https://10.0.0.5:5000/v2/team/app/manifests/v1",
    ],
    [
      "prefix, plain-http upstream: docker pull cr.example:5000/lab.local/tools/curl:8",
      "/v2/lab.local/tools/curl/manifests/8",
      "cr.example:5000",
      "http://192.168.1.20:5000/v2/tools/curl/manifests/8",
    ],
    [
      "prefix, library/ added: docker pull cr.example:5000/docker.io/nginx:1",
      "/v2/docker.io/nginx/manifests/1",
      "cr.example:5000",
      "https://hub-cache.corp.example/v2/library/nginx/manifests/1",
    ],
    [
      "Docker Hub mirror (daemon.json registry-mirrors): docker pull mysql:5.7",
      "/v2/library/mysql/manifests/5.7",
      "cr.example:5000",
      "https://hub-cache.corp.example/v2/library/mysql/manifests/5.7",
    ],
    [
      "host alias: docker pull k8s-gcr.cr.example/coredns/coredns:v1.8.6",
      "/v2/coredns/coredns/manifests/v1.8.6",
      "k8s-gcr.cr.example",
      "https://k8s.gcr.io/v2/coredns/coredns/manifests/v1.8.6",
    ],
    [
      "containerd hosts.toml mirror (?ns=): ctr pull quay.io/prometheus/node-exporter:v1",
      "/v2/prometheus/node-exporter/manifests/v1?ns=quay.io",
      "cr.example:5000",
      "https://quay.io/v2/prometheus/node-exporter/manifests/v1",
    ],
    [
      'podman registries.conf location = "cr.example:5000/docker.io": podman pull nginx',
      "/v2/docker.io/library/nginx/manifests/latest",
      "cr.example:5000",
      "https://hub-cache.corp.example/v2/library/nginx/manifests/latest",
    ],
  ];
  for (const [title, path, host, expected] of pulls) {
    it(`routes ${title}`, async () => {
      const { pull } = proxyOf(await loadExample());
      const result = await pull(path, host);
      assert.ok(result.upstream.includes(expected), `${expected} in ${result.upstream}`);
    });
  }

  it("refuses what allow and block leave out, and registries not in the table", async () => {
    const { pull } = proxyOf(await loadExample());
    for (
      const path of [
        "/v2/my.reg/team/private/app/manifests/v1", // block: **/private/*
        "/v2/docker.io/bitnami/redis/manifests/7", // allow: only docker.io/library/*
        "/v2/other.example/app/manifests/v1", // not in the registry table
      ]
    ) {
      const result = await pull(path);
      assert.equal(result.status, 403, path);
      assert.deepEqual(result.upstream, [], path);
    }
  });

  it("gives docker pull mysql:5.7 through a Hub mirror 404 without defaultRegistry", async () => {
    const config = await loadExample();
    delete config.defaultRegistry;
    const result = await proxyOf(config).pull("/v2/library/mysql/manifests/5.7");
    assert.equal(result.status, 404);
    assert.match((await result.response.json()).errors[0].message, /no default registry/);
    assert.deepEqual(result.upstream, []);
  });

  it("an override of docker.io without library: true no longer adds library/", async () => {
    const config = await parseProxyConfig("registries: { docker.io: https://hub.example }", {
      readFile: () => Promise.reject(new Error("no files")),
    });
    const result = await proxyOf(config).pull("/v2/docker.io/nginx/manifests/1");
    assert.deepEqual(result.upstream, ["https://hub.example/v2/nginx/manifests/1"]);
  });
});
