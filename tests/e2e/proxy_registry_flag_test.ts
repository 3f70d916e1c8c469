/**
 * `ferry proxy --registry NAME=URL,ca=FILE,…` as the README and `ferry proxy --help` write it:
 * one flag value holds the registry and its options, so its commas are not list separators.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { test } from "node:test";
import { makeTempDir, startFerry } from "./_cli.ts";

const T = { timeout: 120_000 };

test("ferry proxy --registry keeps ca= and credentials= with their registry", T, async () => {
  const temp = await makeTempDir("ferry-e2e-proxy-registry-flag");
  let proxy: Awaited<ReturnType<typeof startFerry>> | undefined;
  try {
    const inTemp = { cwd: temp.dir, stdio: "pipe" as const, timeout: 30_000 };
    const ca = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=ca";
    execFileSync("openssl", [...ca.split(" "), "-keyout", "ca.key", "-out", "ca.pem"], inTemp);
    await fs.writeFile(nodePath.join(temp.dir, "my.reg.auth"), "u:p\n");
    proxy = await startFerry([
      "proxy",
      "--listen",
      "127.0.0.1:0",
      "--registry",
      "my.reg=https://10.0.0.5:5000,ca=ca.pem,credentials=my.reg.auth,library",
      "--cache-dir",
      nodePath.join(temp.dir, "cache"),
    ], { cwd: temp.dir, readyPattern: /Press Ctrl-C/, readyTimeoutMs: 60_000 });
    const startup = proxy.stderr() + proxy.stdout();
    const registries = /Registries: (.*)/.exec(startup)?.[1]?.split(", ") ?? [];
    assert.ok(registries.includes("my.reg"), startup);
    assert.ok(!registries.includes("ca") && !registries.includes("credentials"), startup);
  } finally {
    await proxy?.stop();
    await temp.remove();
  }
});
