/**
 * Attacks on the proxy's client logins: password guessing (per client and spread over many
 * addresses), user enumeration by timing, and reading /metrics without logging in. bcrypt runs
 * for real (cost 4); the comparison is counted, not replaced.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import bcrypt from "bcryptjs";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig, type ProxyConfig } from "../../proxy/proxy_config.ts";

const HASH = bcrypt.hashSync("right", 4);
const SECRET = "0123456789abcdef0123456789abcdef";

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

function setup(configure: (config: ProxyConfig) => void = () => {}) {
  const config = defaultProxyConfig();
  config.auth.users = [{ name: "alice", bcryptHash: HASH }, { name: "bob", bcryptHash: HASH }];
  configure(config);
  const compared: string[] = [];
  const app = createRegistryProxy(config, {
    fetch: () => Promise.reject(new Error("no upstream in these tests")),
    storage: new MemoryStorage(),
    comparePassword: (password, hash) => {
      compared.push(hash);
      return bcrypt.compare(password, hash);
    },
  });
  const get = (path: string, authorization: string | undefined, from = "192.0.2.1") =>
    app.request(
      `http://proxy.local${path}`,
      { headers: authorization ? { authorization } : {} },
      { remoteAddress: from },
    );
  return { get, compared };
}

describe("client logins", () => {
  it("refuse a password guesser with 429 once it failed 10 times, without checking", async () => {
    const { get, compared } = setup();
    for (let i = 0; i < 10; i++) {
      assert.equal((await get("/v2/", basic("alice", `guess${i}`))).status, 401);
    }
    const limited = await get("/v2/", basic("alice", "guess10"));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.equal(compared.length, 10, "no bcrypt run past the limit");
    const elsewhere = await get("/v2/", basic("bob", "right"), "192.0.2.2");
    assert.equal(elsewhere.status, 200, "other clients are not affected");
  });

  it("refuse concurrent guesses past the limit too (no race past the check)", async () => {
    const { get, compared } = setup();
    const answers = await Promise.all(
      Array.from({ length: 32 }, (_, i) => get("/v2/", basic("alice", `guess${i}`))),
    );
    assert.equal(answers.filter((a) => a.status === 401).length, 10);
    assert.equal(answers.filter((a) => a.status === 429).length, 22);
    assert.equal(compared.length, 10);
  });

  it("limit /auth/token the same way", async () => {
    const { get, compared } = setup((config) => (config.auth.tokenSecret = SECRET));
    for (let i = 0; i < 10; i++) {
      assert.equal((await get("/auth/token", basic("alice", `guess${i}`))).status, 401);
    }
    assert.equal((await get("/auth/token", basic("alice", "right"))).status, 429);
    assert.equal(compared.length, 10);
    const token = await get("/auth/token", basic("alice", "right"), "192.0.2.9");
    assert.equal(token.status, 200);
  });

  it("limit guesses at one user spread over many addresses", async () => {
    const { get } = setup();
    for (let i = 0; i < 30; i++) {
      assert.equal((await get("/v2/", basic("alice", `g${i}`), `198.51.100.${i}`)).status, 401);
    }
    assert.equal((await get("/v2/", basic("alice", "g"), "203.0.113.1")).status, 429);
    assert.equal((await get("/v2/", basic("bob", "right"), "203.0.113.1")).status, 200);
  });

  it("keep admitting a user whose password was verified recently, without bcrypt", async () => {
    const { get, compared } = setup();
    assert.equal((await get("/v2/", basic("alice", "right"))).status, 200);
    for (let i = 0; i < 12; i++) await get("/v2/", basic("alice", `guess${i}`), "192.0.2.66");
    const before = compared.length;
    assert.equal((await get("/v2/", basic("alice", "right"))).status, 200);
    assert.equal(compared.length, before, "the remembered success needs no bcrypt");
  });

  it("cost an unknown user a bcrypt comparison of the same cost (no user enumeration)", async () => {
    const { get, compared } = setup();
    assert.equal((await get("/v2/", basic("mallory", "x"))).status, 401);
    assert.equal(compared.length, 1, "an unknown user runs bcrypt too");
    assert.equal(compared[0]!.slice(0, 7), HASH.slice(0, 7), "at the same cost");
    assert.notEqual(compared[0], HASH);
  });

  it("are rate limited before the password is checked", async () => {
    const { get, compared } = setup((config) => {
      config.rateLimit = { requestsPerSecond: 0.001, burst: 2 };
    });
    for (let i = 0; i < 2; i++) await get("/v2/", basic("alice", `guess${i}`));
    assert.equal((await get("/v2/", basic("alice", "guess2"))).status, 429);
    assert.equal(compared.length, 2);
  });
});

describe("/metrics", () => {
  it("needs a client login when client auth is on", async () => {
    const { get } = setup();
    assert.equal((await get("/metrics", undefined)).status, 401);
    const scraped = await get("/metrics", basic("alice", "right"));
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /ferry_proxy_requests_total/);
  });

  it("needs the metrics token when one is configured", async () => {
    const { get } = setup((config) => (config.metricsToken = "metrics-token-0123456789"));
    assert.equal((await get("/metrics", undefined)).status, 401);
    assert.equal((await get("/metrics", "Bearer metrics-token-wrong00000")).status, 401);
    assert.equal((await get("/metrics", basic("alice", "right"))).status, 401);
    assert.equal((await get("/metrics", "Bearer metrics-token-0123456789")).status, 200);
  });

  it("stays open without client auth and without a token", async () => {
    const { get } = setup((config) => (config.auth.users = []));
    assert.equal((await get("/metrics", undefined)).status, 200);
  });
});
