import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { parseProxyConfig, parseRegistryFlag } from "../../proxy/parse_proxy_config.ts";

const HASH = "$2y$05$abcdefghijklmnopqrstuuXyS0Cq1hJX6Vg9xuLnE6aiWsbYbSqqC";
const files: Record<string, string> = {
  "users.htpasswd": `bob:${HASH}\n`,
  "ca.pem": "-----BEGIN CERTIFICATE-----\n...",
  "secret": "0123456789abcdef0123456789abcdef\n",
  "my.auth": "alice:pa:ss,word\n",
  "two-lines.auth": "alice:pw\nbob:pw\n",
};
const readFile = (path: string) =>
  path in files
    ? Promise.resolve(files[path] ?? "")
    : Promise.reject(Object.assign(new Error("x"), { code: "ENOENT" }));

describe("parseProxyConfig()", () => {
  it("reads registries, aliases, cache, upstream, auth and rate limit settings", async () => {
    const config = await parseProxyConfig(
      `
defaultRegistry: upstream.test
registries:
  upstream.test: http://127.0.0.1:15000
  private.test: { url: "https://10.0.0.5:5000/", ca: ca.pem, username: u, password: p }
aliases: { K8S-GCR.cr.example: k8s.gcr.io }
allow: ["docker.io/library/*"]
cache: { tagTtl: 1m30s, maxSize: 2GiB }
upstream: { timeout: 10s, retries: 1, revalidateTimeout: 2s, downAfter: 5, downFor: 1m }
auth: { htpasswd: users.htpasswd, tokenSecretFile: secret, tokenTtl: 5m }
rateLimit: { requestsPerSecond: 5 }
`,
      { readFile },
    );
    assert.equal(config.registries["upstream.test"]?.url, "http://127.0.0.1:15000");
    assert.equal(config.registries["private.test"]?.url, "https://10.0.0.5:5000");
    assert.equal(config.registries["private.test"]?.ca, files["ca.pem"]);
    assert.equal(config.registries["docker.io"]?.url, "https://registry-1.docker.io");
    assert.equal(config.aliases["k8s-gcr.cr.example"], "k8s.gcr.io");
    assert.equal(config.cache.tagTtlMs, 90_000);
    assert.equal(config.cache.maxBytes, 2 * 1024 ** 3);
    assert.deepEqual(config.upstream, {
      timeoutMs: 10_000,
      retries: 1,
      revalidateTimeoutMs: 2_000,
      breakerFailures: 5,
      breakerCooldownMs: 60_000,
    });
    assert.deepEqual(config.auth.users, [{ name: "bob", bcryptHash: HASH }]);
    assert.equal(config.auth.tokenSecret, "0123456789abcdef0123456789abcdef");
    assert.deepEqual(config.rateLimit, { requestsPerSecond: 5, burst: 10 });
  });

  const bad: [string, RegExp][] = [
    ["registriez: {}", /unknown key/],
    ["cache: { tagTtl: soon }", /expected a duration/],
    ["cache: { maxSize: lots }", /expected a size/],
    ["registries: { x.test: ftp://h }", /expected http/],
    ["registries: { x.test: http://h/path }", /no path/],
    ["registries: { x.test: { url: http://h, username: u } }", /both username and password/],
    ["aliases: { a.example: nowhere.test }", /not in the registry table/],
    ["defaultRegistry: nowhere.test", /not in the registry table/],
    ["auth: { users: { bob: plaintext } }", /only bcrypt/],
    ["auth: { htpasswd: users.htpasswd, tokenSecret: short }", /at least 32/],
    [
      "auth: { htpasswd: missing.htpasswd }",
      /Cannot read auth.htpasswd "missing.htpasswd".*ENOENT/,
    ],
    ["registries: [", /Cannot parse/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)} with a clear message`, async () => {
      await assert.rejects(parseProxyConfig(text, { readFile }), (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

describe("parseRegistryFlag()", () => {
  it("reads NAME=URL with a CA, credentials from a file, token realms and library", async () => {
    const entry = await parseRegistryFlag(
      "my.reg=https://10.0.0.5:5000,ca=ca.pem,credentials=my.auth," +
        "token-realm=https://auth.example/token,library",
      { readFile },
    );
    assert.deepEqual(entry, {
      name: "my.reg",
      url: "https://10.0.0.5:5000",
      ca: files["ca.pem"],
      username: "alice",
      password: "pa:ss,word",
      library: true,
      tokenRealms: ["https://auth.example/token"],
    });
  });

  it("reads a plain NAME=URL", async () => {
    assert.deepEqual(await parseRegistryFlag("a.test=http://127.0.0.1:1", { readFile }), {
      name: "a.test",
      url: "http://127.0.0.1:1",
    });
  });

  const bad: [string, RegExp][] = [
    ["my.reg", /expected NAME=URL/],
    ["my.reg=ftp://x", /expected http/],
    ["my.reg=https://x,password=pw", /known options are ca=FILE/],
    ["my.reg=https://x,ca=missing.pem", /Cannot read .*missing\.pem.*ENOENT/],
    ["my.reg=https://x,credentials=two-lines.auth", /one line user:password/],
    ["My_Reg=https://x", /lower-case host name/],
  ];
  for (const [value, message] of bad) {
    it(`refuses --registry ${JSON.stringify(value)}`, async () => {
      await assert.rejects(parseRegistryFlag(value, { readFile }), (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
