/**
 * A hung or broken upstream must not hold up answers the cache can give: a stale tag comes back
 * within the revalidation deadline, an upstream that keeps failing is left alone for a while
 * (circuit breaker), and failures that would only fail again (a certificate that does not
 * verify) are not retried.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig } from "../../proxy/proxy_config.ts";
import { UpstreamClient } from "../../proxy/upstream_client.ts";
import { UpstreamUnavailableError } from "../../proxy/upstream_error.ts";
import { FakeRegistry } from "./_fake_registry.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const T = { timeout: 4_000 };

/** A proxy whose upstream can be told to hang: no answer until the request is aborted. */
function setup(configure: (config: ReturnType<typeof defaultProxyConfig>) => void = () => {}) {
  const registry = new FakeRegistry();
  const control = { hang: false, asked: 0 };
  const config = defaultProxyConfig();
  config.registries["fake.test"] = { name: "fake.test", url: registry.origin };
  config.cache.tagTtlMs = 1_000;
  config.upstream.timeoutMs = 60_000; // far past the test's budget: only the deadline can help
  config.upstream.retries = 2;
  config.upstream.revalidateTimeoutMs = 100;
  configure(config);
  const clock = { now: 1_700_000_000_000 };
  const app = createRegistryProxy(config, {
    fetch: (input, init) => {
      control.asked++;
      if (!control.hang) return registry.fetch(input, init);
      return new Promise((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      });
    },
    storage: new MemoryStorage(),
    now: () => new Date(clock.now),
  });
  const get = async (path: string) => {
    const response = await app.request(`http://proxy.local${path}`, {
      headers: { accept: OCI_MANIFEST },
    });
    await app.idle();
    return response;
  };
  registry.addImage("team/app", "v1", "layer");
  return { control, clock, get, config };
}

describe("a hung upstream", () => {
  it("does not hold up a stale tag answer past the revalidation deadline", T, async () => {
    const { control, clock, get } = setup();
    assert.equal((await get("/v2/fake.test/team/app/manifests/v1")).status, 200);
    control.hang = true;
    clock.now += 5_000;
    const stale = await get("/v2/fake.test/team/app/manifests/v1");
    assert.equal(stale.status, 200);
    assert.match(stale.headers.get("warning") ?? "", /110/);
  });

  it(
    "is left alone after repeated failures, then probed once the cooldown is over",
    T,
    async () => {
      const { control, clock, get } = setup((config) => {
        config.upstream.retries = 0;
        config.upstream.breakerFailures = 2;
        config.upstream.breakerCooldownMs = 10_000;
      });
      assert.equal((await get("/v2/fake.test/team/app/manifests/v1")).status, 200);
      control.hang = true;
      clock.now += 5_000;
      for (let i = 0; i < 2; i++) {
        assert.equal((await get("/v2/fake.test/team/app/manifests/v1")).status, 200);
      }
      const asked = control.asked;
      const whileDown = await get("/v2/fake.test/team/app/manifests/v1");
      assert.equal(whileDown.status, 200, "stale, at once");
      assert.equal(control.asked, asked, "a down upstream is not asked");
      const cold = await get("/v2/fake.test/team/other/manifests/v1");
      assert.equal(cold.status, 502, "nothing cached: an error at once, not a wait");
      assert.equal(control.asked, asked);

      control.hang = false;
      clock.now += 10_000;
      const probed = await get("/v2/fake.test/team/app/manifests/v1");
      assert.equal(probed.status, 200);
      assert.equal(probed.headers.get("warning"), null, "the probe reached the upstream again");
      assert.ok(control.asked > asked);
    },
  );
});

describe("a timeout", () => {
  it("is not retried: a hung upstream costs one timeout, not one per attempt", T, async () => {
    let attempts = 0;
    const client = new UpstreamClient({ name: "hung.test", url: "http://hung.test" }, {
      fetch: (_input, init) => {
        attempts++;
        return new Promise((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(new Error("aborted")));
        });
      },
      timeoutMs: 100,
      retries: 2,
      retryDelayMs: 1,
      userAgent: "test",
    });
    const failure = await client.request({ method: "GET", repository: "a", path: "/v2/" }).then(
      () => undefined,
      (error) => error,
    );
    assert.ok(failure instanceof UpstreamUnavailableError);
    assert.equal(failure.reason, "timeout");
    assert.equal(attempts, 1);
  });
});

describe("a certificate that does not verify", () => {
  it("is reported at once, not retried", T, async () => {
    const dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-tls-"));
    let server: Server | undefined;
    try {
      await promisify(execFile)("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-days",
        "1",
        "-keyout",
        nodePath.join(dir, "key.pem"),
        "-out",
        nodePath.join(dir, "cert.pem"),
      ], { timeout: 3_000 });
      server = createServer({
        key: await readFile(nodePath.join(dir, "key.pem")),
        cert: await readFile(nodePath.join(dir, "cert.pem")),
      });
      let attempts = 0;
      server.on("request", (_request, response) => response.end("{}"));
      await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as AddressInfo).port;
      const client = new UpstreamClient({
        name: "self-signed.test",
        url: `https://127.0.0.1:${port}`,
      }, {
        fetch: (input, init) => {
          attempts++;
          return globalThis.fetch(input, init);
        },
        timeoutMs: 2_000,
        retries: 2,
        retryDelayMs: 1,
        userAgent: "test",
      });
      const failure = await client.request({ method: "GET", repository: "a", path: "/v2/" }).then(
        () => undefined,
        (error) => error,
      );
      assert.ok(failure instanceof UpstreamUnavailableError, String(failure));
      assert.equal(failure.reason, "refused");
      assert.match(failure.message, /certificate/);
      assert.equal(attempts, 1, "one attempt");
    } finally {
      server?.closeAllConnections?.();
      if (server?.listening) await new Promise((resolve) => server!.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
