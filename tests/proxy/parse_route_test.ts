import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRoute, type RouteContext } from "../../proxy/parse_route.ts";

const context: RouteContext = {
  registries: new Set(["docker.io", "k8s.gcr.io", "ghcr.io", "upstream.test"]),
  aliases: { "k8s-gcr.cr.example": "k8s.gcr.io", "bad.cr.example": "not.in.table" },
  libraryRegistries: new Set(["docker.io"]),
};
const D = `sha256:${"a".repeat(64)}`;

describe("parseRoute()", () => {
  const cases: [string, Partial<RouteContext>, Record<string, unknown>][] = [
    ["/v2/", {}, { kind: "ping" }],
    ["/v2", {}, { kind: "ping" }],
    ["/v2/_catalog", {}, { kind: "catalog" }],
    ["/v2/docker.io/library/nginx/manifests/latest", {}, {
      kind: "manifest",
      registry: "docker.io",
      repository: "library/nginx",
      reference: "latest",
      mode: "prefix",
      clientName: "docker.io/library/nginx",
    }],
    ["/v2/docker.io/nginx/manifests/latest", {}, {
      kind: "manifest",
      registry: "docker.io",
      repository: "library/nginx",
    }],
    ["/v2/ghcr.io/a/b/c/manifests/v1", {}, { registry: "ghcr.io", repository: "a/b/c" }],
    ["/v2/ghcr.io/solo/manifests/v1", {}, { registry: "ghcr.io", repository: "solo" }],
    [`/v2/k8s.gcr.io/coredns/coredns/blobs/${D}`, {}, {
      kind: "blob",
      repository: "coredns/coredns",
      digest: D,
    }],
    ["/v2/upstream.test/test/hello/tags/list", {}, { kind: "tags", repository: "test/hello" }],
    [`/v2/upstream.test/test/hello/referrers/${D}`, {}, { kind: "referrers", digest: D }],
    ["/v2/coredns/coredns/manifests/v1.8.6", { host: "k8s-gcr.cr.example" }, {
      kind: "manifest",
      registry: "k8s.gcr.io",
      repository: "coredns/coredns",
      mode: "alias",
    }],
    ["/v2/coredns/coredns/manifests/v1", { host: "K8S-GCR.cr.example:443" }, { mode: "alias" }],
    ["/v2/library/mysql/manifests/5.7", { defaultRegistry: "docker.io" }, {
      registry: "docker.io",
      repository: "library/mysql",
      mode: "mirror",
    }],
    ["/v2/mysql/manifests/5.7", { defaultRegistry: "docker.io" }, {
      repository: "library/mysql",
      clientName: "mysql",
    }],
    ["/v2/library/nginx/manifests/1", { ns: "docker.io" }, { mode: "namespace" }],
    ["/v2/docker.io/library/nginx/manifests/1", { ns: "docker.io" }, { mode: "prefix" }],
    // ctr pull up.test/ghcr.io/hello:v1 through a hosts.toml mirror: ns names the registry, and a
    // registry-named first component is part of the repository, not a second registry
    ["/v2/ghcr.io/hello/manifests/v1", { ns: "upstream.test" }, {
      registry: "upstream.test",
      repository: "ghcr.io/hello",
      mode: "namespace",
    }],
    ["/v2/docker.io/library/nginx/manifests/1", { ns: "ghcr.io" }, {
      registry: "ghcr.io",
      repository: "docker.io/library/nginx",
    }],
    ["/v2/ghcr.io/hello/manifests/v1", { ns: "upstream.test", host: "k8s-gcr.cr.example" }, {
      registry: "upstream.test",
      mode: "namespace",
    }],
    ["/v2/x/blobs/uploads/", {}, { kind: "upload" }],
    ["/v2/docker.io/x/blobs/uploads/1234-uuid", {}, { kind: "upload" }],
    ["/other", {}, { kind: "not-v2" }],
    // refusals
    ["/v2/evil.example/x/manifests/latest", {}, { kind: "denied" }],
    ["/v2/localhost/x/manifests/latest", {}, { kind: "denied" }],
    ["/v2/x/manifests/1", { ns: "evil.example" }, { kind: "denied" }],
    ["/v2/docker.io/library/x/manifests/1", { ns: "evil.example" }, { kind: "denied" }],
    ["/v2/x/manifests/1", { host: "bad.cr.example" }, { kind: "denied" }],
    ["/v2/coredns/coredns/manifests/v1", {}, {
      kind: "invalid",
      code: "NAME_UNKNOWN",
      status: 404,
    }],
    ["/v2/docker.io/library/nginx", {}, { kind: "invalid", code: "NAME_UNKNOWN" }],
    ["/v2/docker.io/manifests/latest", {}, { kind: "invalid", code: "NAME_UNKNOWN" }],
    ["/v2/docker.io/Library/nginx/manifests/latest", {}, { kind: "invalid", code: "NAME_INVALID" }],
    ["/v2/docker.io/a/manifests/-bad", {}, { kind: "invalid", code: "MANIFEST_INVALID" }],
    ["/v2/docker.io/a/manifests/sha256:abc", {}, { kind: "invalid", code: "DIGEST_INVALID" }],
    ["/v2/docker.io/a/blobs/latest", {}, { kind: "invalid", code: "DIGEST_INVALID" }],
    ["/v2/docker.io/a/blobs/md5:0123", {}, { kind: "invalid", code: "DIGEST_INVALID" }],
  ];
  for (const [path, extra, expected] of cases) {
    it(
      `routes ${path}${extra.host ? ` (Host ${extra.host})` : ""}${
        extra.ns ? ` (ns=${extra.ns})` : ""
      }${extra.defaultRegistry ? " (default registry)" : ""}`,
      () => {
        const route = parseRoute(path, { ...context, ...extra }) as unknown as Record<
          string,
          unknown
        >;
        for (const [key, value] of Object.entries(expected)) assert.equal(route[key], value, key);
      },
    );
  }

  it("rejects path traversal in the repository name", () => {
    for (const path of ["/v2/docker.io/../etc/manifests/x", "/v2/docker.io/a/%2e%2e/manifests/x"]) {
      const route = parseRoute(path, context);
      assert.equal(route.kind, "invalid", path);
    }
  });

  it("shows the expected form in the message for an unroutable path", () => {
    const route = parseRoute("/v2/coredns/coredns/manifests/v1", context);
    assert.equal(route.kind, "invalid");
    if (route.kind === "invalid") {
      assert.match(route.message, /\/v2\/<registry>\/<repository>\/manifests/);
    }
  });
});
