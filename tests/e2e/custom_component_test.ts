/**
 * The seeds' "Work with custom components" walkthrough (seeds 001/002) with `tiup` replaced by
 * `ferry`: build the C hello world with gcc, `ferry package`, `mirror init`, `genkey`, `mirror
 * set`, `grant`, `publish`, then `ferry mirror verify` passes, `ferry hello` runs it, and a
 * tampered copy of the mirror fails verification.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTempDir, runFerry } from "./_cli.ts";
import { HELLO_C, HOST } from "./_walkthrough.ts";

const TIMEOUT = { timeout: 180_000 };

let temp: { dir: string; remove(): Promise<void> };
let env: Record<string, string>;

before(async () => {
  temp = await makeTempDir("ferry-e2e-custom");
  env = {
    FERRY_HOME: nodePath.join(temp.dir, "home"),
    USER: "jdoe",
    FERRY_MIRROR: "",
    TIUP_MIRRORS: "",
    TIUP_HOME: "",
  };
});
after(async () => {
  await temp?.remove();
});

async function ferry(args: string[], expectCode = 0) {
  const result = await runFerry(args, { cwd: temp.dir, env, timeoutMs: 120_000 });
  assert.equal(
    result.code,
    expectCode,
    `ferry ${
      args.join(" ")
    } exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
  return result;
}

describe("custom component walkthrough (seed 001/002, tiup → ferry)", () => {
  it(
    "builds, packages, publishes, verifies and runs hello; a tampered copy fails",
    TIMEOUT,
    async () => {
      const mirror = nodePath.join(temp.dir, "m");
      // 1. Create a custom component called hello.
      await fs.writeFile(nodePath.join(temp.dir, "hello.c"), HELLO_C);
      execFileSync("gcc", ["hello.c", "-o", "hello"], { cwd: temp.dir, timeout: 60_000 });
      await ferry([
        "package",
        "hello",
        "--entry",
        "hello",
        "--name",
        "hello",
        "--release",
        "v0.0.1",
      ]);
      const tarball = `package/hello-v0.0.1-${HOST}.tar.gz`;
      await fs.stat(nodePath.join(temp.dir, tarball));

      // 2. Create a repository and a private key, and grant ownership.
      await ferry(["mirror", "init", mirror]);
      const genkey = await ferry(["mirror", "genkey"]);
      assert.match(genkey.stderr, /Private key has been written to .*home\/keys\/private\.json/);
      await ferry(["mirror", "set", mirror]);
      const grant = await ferry(["mirror", "grant", env.USER!]);
      assert.match(grant.stdout, /Granted "jdoe"/);
      const publish = await ferry(["mirror", "publish", "hello", "v0.0.1", tarball, "hello"]);
      assert.match(publish.stdout, /Published hello v0\.0\.1/);
      await fs.stat(nodePath.join(mirror, `hello-v0.0.1-${HOST}.tar.gz`));

      // The mirror verifies as a client would see it.
      const verify = await ferry(["mirror", "verify", mirror]);
      assert.match(verify.stdout + verify.stderr, /no problems/i);

      // 3. Run the component: downloaded on first use.
      const run = await ferry(["hello"]);
      assert.equal(run.stdout.trim().split("\n").pop(), "hello");

      // A tampered copy of the mirror fails verification (attack: replaced binary).
      const copy = nodePath.join(temp.dir, "tampered");
      await fs.cp(mirror, copy, { recursive: true });
      const target = nodePath.join(copy, `hello-v0.0.1-${HOST}.tar.gz`);
      const bytes = await fs.readFile(target);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      await fs.writeFile(target, bytes);
      const bad = await ferry(["mirror", "verify", copy], 3);
      assert.match(bad.stdout + bad.stderr, /hello-v0\.0\.1/);

      // And a forged signature on a manifest fails too.
      const forged = nodePath.join(temp.dir, "forged");
      await fs.cp(mirror, forged, { recursive: true });
      const manifest = nodePath.join(forged, "1.hello.json");
      const text = await fs.readFile(manifest, "utf8");
      await fs.writeFile(manifest, text.replace('"entry":"hello"', '"entry":"hellx"'));
      await ferry(["mirror", "verify", forged], 3);
    },
  );
});
