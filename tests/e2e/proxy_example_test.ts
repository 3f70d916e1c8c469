/**
 * `ferry proxy --config examples/proxy.yaml` starts, with the files the example's comments say
 * to create made the way they say (openssl, htpasswd -B), and then asks clients to log in.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { test } from "node:test";
import { makeTempDir, REPO_ROOT, startFerry } from "./_cli.ts";

const T = { timeout: 120_000 };

test("ferry proxy --config starts with the complete example config", T, async () => {
  const temp = await makeTempDir("ferry-e2e-proxy-example");
  let proxy: Awaited<ReturnType<typeof startFerry>> | undefined;
  try {
    const config = nodePath.join(temp.dir, "proxy.yaml");
    await fs.copyFile(nodePath.join(REPO_ROOT, "examples", "proxy.yaml"), config);
    const inTemp = { cwd: temp.dir, stdio: "pipe" as const, timeout: 30_000 };
    await fs.writeFile(
      nodePath.join(temp.dir, "token-secret.txt"),
      execFileSync("openssl", ["rand", "-hex", "32"], inTemp),
    );
    execFileSync("htpasswd", ["-cbB", "users.htpasswd", "alice", "wonderland"], inTemp);
    await fs.writeFile(
      nodePath.join(temp.dir, "metrics-token.txt"),
      execFileSync("openssl", ["rand", "-hex", "32"], inTemp),
    );
    // The CA the example's my.reg entry trusts: any PEM CA certificate will do here.
    const ca = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=ca";
    execFileSync("openssl", [...ca.split(" "), "-keyout", "ca.key", "-out", "ca.pem"], inTemp);

    proxy = await startFerry([
      "proxy",
      "--listen",
      "127.0.0.1:0",
      "--config",
      config,
      "--cache-dir",
      nodePath.join(temp.dir, "cache"),
    ], { readyPattern: /Press Ctrl-C/, readyTimeoutMs: 60_000 });
    const startup = proxy.stderr() + proxy.stdout();
    const url = /Registry proxy at (http:\/\/\S+),/.exec(startup)![1]!;
    assert.match(startup, /Registries: .*my\.reg.*lab\.local/);
    assert.match(startup, /names without a registry go to "docker\.io"/);

    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const ping = await fetch(`${url}/v2/`);
    assert.equal(ping.status, 401, "auth is on: clients must log in");
    assert.match(ping.headers.get("www-authenticate") ?? "", /^Bearer realm=/);
    await ping.body?.cancel();
    const login = await fetch(`${url}/auth/token?service=ferry&scope=`, {
      headers: { authorization: `Basic ${btoa("alice:wonderland")}` },
    });
    assert.equal(login.status, 200, "the htpasswd user gets a token");
    assert.equal(typeof (await login.json()).token, "string");
  } finally {
    await proxy?.stop();
    await temp.remove();
  }
});
