/**
 * Requests that cannot be routed (no Host, a Host that is not a host, CONNECT) sent as raw bytes
 * to the proxy behind the real server of the runtime running the test: they get a 400 in OCI
 * error JSON, never a 500 with a stack trace, on /healthz as on /v2/.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type RunningServer, runtimeName, serveHttp } from "../../lib/runtime.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig } from "../../proxy/proxy_config.ts";

/** Sends `raw` and returns what came back until the server closed or 2 s passed. */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    let answer = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(raw));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, 2_000);
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      if (/\r\n\r\n[\s\S]*\}\s*$/.test(answer)) done(); // a whole JSON error body
    });
    socket.on("end", done);
    socket.on("error", done);
  });
}

describe("a malformed request", () => {
  let server: RunningServer;
  const logs: string[] = [];
  before(async () => {
    const app = createRegistryProxy(defaultProxyConfig(), {
      fetch: () => Promise.reject(new Error("no upstream")),
      storage: new MemoryStorage(),
      onLog: (line) => logs.push(line),
    });
    server = await serveHttp((request, info) => app.fetch(request, info), {
      hostname: "127.0.0.1",
      port: 0,
    });
  });
  after(async () => await server.shutdown(1_000));

  // Deno's server fills in its own address when an HTTP/1.0 request has no Host, so the request
  // is routable there; Bun hands over a relative URL, which is what used to crash.
  const noHost = runtimeName() === "deno" ? /^HTTP\/1\.[01] 200 / : /^HTTP\/1\.[01] 400 /;
  const cases: [string, string, RegExp?][] = [
    ["HTTP/1.0 without Host on /healthz", "GET /healthz HTTP/1.0\r\n\r\n", noHost],
    ["HTTP/1.0 without Host on /v2/", "GET /v2/ HTTP/1.0\r\n\r\n", noHost],
    ["a Host with a space", "GET /v2/ HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n"],
    [
      "a Host with a broken IPv6 literal",
      "GET /healthz HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n",
    ],
    ["CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"],
  ];
  for (const [name, raw, expected = /^HTTP\/1\.[01] 400 /] of cases) {
    it(`answers 400 to ${name}`, { timeout: 4_000 }, async () => {
      const answer = await exchange(server.port, raw);
      assert.match(answer, expected, answer.slice(0, 200));
      assert.doesNotMatch(answer, /at .*\.ts:\d+/, "no stack trace");
      assert.deepEqual(logs, [], "nothing went wrong inside");
    });
  }

  it("still answers a well-formed request", { timeout: 4_000 }, async () => {
    const answer = await exchange(
      server.port,
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert.match(answer, /^HTTP\/1\.1 200 /);
  });
});
