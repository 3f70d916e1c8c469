/**
 * A TiUP operator's day through the real CLI (issue 9 items 2, 3, 4, 8, 10, 11; issue 8 item
 * 23): what tiup accepts works, and every slip of the keyboard exits non-zero with one sentence,
 * leaving the mirror and the working directory as they were.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import { packTarball } from "../../lib/archive/pack_tarball.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { freePort, makeTempDir, REPO_ROOT, runFerryExpecting } from "./_cli.ts";
import { dirDigest } from "./_mirror_digest.ts";

const TIMEOUT = { timeout: 180_000 };
let temp: { dir: string; remove(): Promise<void> };
let mirror: string;
let env: Record<string, string>;

function ferry(args: string[], expectCode = 0) {
  return runFerryExpecting(args, expectCode, { cwd: temp.dir, env });
}

/** Runs a command that must fail with `code` and one line on stderr matching `message`. */
async function refused(args: string[], code: number, message: RegExp) {
  const result = await ferry(args, code);
  assert.match(result.stderr, message, args.join(" "));
  const errors = result.stderr.split("\n").filter((line) => line.startsWith("Error: "));
  assert.equal(errors.length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\bE[A-Z]{3,}:|ambiguous|Invalid time value|invalid date/);
  return result;
}

// deno-lint-ignore no-explicit-any
async function readJson(path: string): Promise<any> {
  return JSON.parse(await fs.readFile(path, "utf8"));
}

async function latestIndex(dir: string) {
  const snapshot = await readJson(nodePath.join(dir, "snapshot.json"));
  const version = snapshot.signed.meta["/index.json"].version;
  return (await readJson(nodePath.join(dir, `${version}.index.json`))).signed;
}

/**
 * The shared mirror, made by the first test that needs it: Bun's node:test ignores a hook's
 * timeout, and this takes longer than its 5 s default on a loaded machine.
 */
let ready: Promise<void> | undefined;
function setUp(): Promise<void> {
  return ready ??= (async () => {
    temp = await makeTempDir("ferry-e2e-operator");
    env = { FERRY_HOME: nodePath.join(temp.dir, "home"), FERRY_MIRROR: "", TIUP_MIRRORS: "" };
    mirror = nodePath.join(temp.dir, "m");
    const pkg = nodePath.join(temp.dir, "pkg");
    await fs.mkdir(pkg);
    await fs.writeFile(nodePath.join(pkg, "hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    // A CI artifact name without a version, which tiup publishes as it is.
    await fs.writeFile(
      nodePath.join(temp.dir, "hello-linux-amd64.tar.gz"),
      await collectBytes(await packTarball(["hello"], { cwd: pkg })),
    );
    await fs.writeFile(nodePath.join(temp.dir, "afile"), "not a directory");
    await ferry(["mirror", "init", mirror]);
    await ferry(["mirror", "genkey"]);
    await ferry(["mirror", "grant", "jdoe", "--mirror", mirror]);
  })();
}

/** `ferry mirror publish hello VERSION TARBALL ENTRY` for linux/amd64 into the test mirror. */
function publish(version: string, tarball: string, entry: string): string[] {
  const platform = "--os=linux --arch=amd64".split(" ");
  return ["mirror", "publish", "hello", version, tarball, entry, ...platform, `--mirror=${mirror}`];
}

describe("a TiUP operator's day (CLI)", () => {
  after(async () => {
    await temp?.remove();
  }, TIMEOUT);

  it(
    "publish takes any file name (hello-linux-amd64.tar.gz) and stores COMP-VER-OS-ARCH",
    TIMEOUT,
    async () => {
      await setUp();
      await ferry(publish("v0.0.1", "hello-linux-amd64.tar.gz", "hello"));
      await fs.stat(nodePath.join(mirror, "hello-v0.0.1-linux-amd64.tar.gz"));
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it("publish refuses an ENTRY the tarball lacks, before writing anything", TIMEOUT, async () => {
    await setUp();
    const before = await dirDigest(mirror);
    await refused(
      publish("v0.0.2", "hello-linux-amd64.tar.gz", "bin/hello"),
      2,
      /entry "bin\/hello".*no such file; it holds "hello"/,
    );
    assert.deepEqual(await dirDigest(mirror), before);
  });

  it("modify takes tiup's --hide=false, --hide=true and --standalone=0", TIMEOUT, async () => {
    await setUp();
    const m = ["--mirror", mirror];
    await ferry(["mirror", "modify", "hello", "--hide=true", ...m]);
    assert.equal((await latestIndex(mirror)).components.hello.hidden, true);
    await ferry(["mirror", "modify", "hello", "--hide=false", "--standalone=0", ...m]);
    const index = await latestIndex(mirror);
    assert.equal(index.components.hello.hidden, false);
    assert.equal(index.components.hello.standalone, false);
    await refused(["mirror", "modify", "hello", "--hide=maybe", ...m], 2, /true or false/);
  });

  it("unknown --os/--arch values are usage errors naming the valid ones", TIMEOUT, async () => {
    await setUp();
    const before = await dirDigest(mirror);
    const target = nodePath.join(temp.dir, "platforms");
    const clone = ["mirror", "clone", target, "--source", mirror, "--skip-ferry-binary"];
    await refused([...clone, "--arch", "amd64,arm"], 2, /--arch "arm".*amd64, arm64.*"arm64"/);
    await refused([...clone, "--os", "windows"], 2, /--os "windows".*linux, darwin/);
    await refused([...clone, "-a", "x86_64"], 2, /did you mean "amd64"/);
    await refused(
      [...publish("v0.0.3", "hello-linux-amd64.tar.gz", "hello"), "--arch", "foo"],
      2,
      /--arch "foo".*amd64, arm64, any/,
    );
    await refused(
      ["package", "hello", "--name", "hello", "--release", "v1", "--os", "windows"],
      2,
      /--os "windows"/,
    );
    assert.deepEqual(await dirDigest(mirror), before);
    const left = (await fs.readdir(temp.dir)).filter((name) => name.includes("platforms"));
    assert.deepEqual(left, [], "nothing created for a refused clone");
  });

  it(
    "clone --hello v0 says --prefix matches by prefix, and leaves no partial dir with keys",
    TIMEOUT,
    async () => {
      await setUp();
      const target = nodePath.join(temp.dir, "prefixed");
      const clone = ["mirror", "clone", target, "--source", mirror, "--skip-ferry-binary"];
      await refused([...clone, "--hello", "v0"], 2, /"v0".*add --prefix, which matches/);
      const left = (await fs.readdir(temp.dir)).filter((name) => name.includes("prefixed"));
      assert.deepEqual(left, [], "no .prefixed.ferry-partial/ with private keys");
      await ferry([...clone, "--hello", "v0", "--prefix", "--os", "linux", "--arch", "amd64"]);
      await fs.stat(nodePath.join(target, "hello-v0.0.1-linux-amd64.tar.gz"));
    },
  );

  it("a clone off a terminal prints progress lines; --json and -q do not", TIMEOUT, async () => {
    await setUp();
    const clone = (name: string) => [
      "mirror",
      "clone",
      nodePath.join(temp.dir, name),
      "--source",
      mirror,
      "--full",
      "--skip-ferry-binary",
    ];
    const plain = await ferry(clone("progress-plain"));
    assert.match(plain.stderr, /^Cloning: \d+(\/\d+)? files, [\d.]+(\/[\d.]+)? MB, [\d.]+ MB\/s/m);
    const json = await ferry([...clone("progress-json"), "--json"]);
    assert.doesNotMatch(json.stderr, /^Cloning:/m);
    JSON.parse(json.stdout);
    const quiet = await ferry([...clone("progress-quiet"), "-q"]);
    assert.doesNotMatch(quiet.stderr, /^Cloning:/m);
  });

  it("CLI slips exit non-zero with one sentence and change nothing", TIMEOUT, async () => {
    await setUp();
    const before = await dirDigest(mirror);
    const m = ["--mirror", mirror];
    await refused(["mirror", "renew", "--days", "0", ...m], 2, /--days "0".*from 1 to/);
    await refused(["mirror", "renew", "--days", "-1", ...m], 2, /--days "-1".*from 1 to/);
    await refused(["mirror", "renew", "--days", "99999999", ...m], 2, /--days "99999999"/);
    await refused(["mirror", "renew", "hello", "--days", "0", ...m], 2, /--days "0"/);
    await refused(["mirror", "clone", "x", "--jobs", "-4"], 2, /--jobs "-4"/);
    await refused(
      ["mirror", "renew", "--mirror", "afile"],
      2,
      /"[^"]*afile": it is a file, not a mirror directory/,
    );
    await refused(["mirror", "grant", "bob", "--mirror", "afile"], 2, /it is a file/);
    await refused(["--version", "extra"], 2, /^Error: "ferry --version" takes no arguments/);
    assert.deepEqual(await dirDigest(mirror), before);
  });

  it("a read-only mirror or clone target is refused in words, not EROFS", TIMEOUT, async (t) => {
    await setUp();
    const ro = nodePath.join(temp.dir, "ro");
    await fs.cp(mirror, ro, { recursive: true });
    try {
      execFileSync("mount", ["--bind", ro, ro], { stdio: "ignore" });
    } catch {
      t.diagnostic?.("skipped: cannot bind-mount here (needs root)");
      return;
    }
    try {
      execFileSync("mount", ["-o", "remount,ro,bind", ro], { stdio: "ignore" });
      await refused(["mirror", "renew", "--mirror", ro], 1, /"[^"]*ro": it is on a read-only/);
      await refused(
        ["mirror", "clone", nodePath.join(ro, "copy"), "--source", mirror, "--skip-ferry-binary"],
        1,
        /Cannot clone into "[^"]*copy": it is on a read-only file system/,
      );
    } finally {
      execFileSync("umount", [ro], { stdio: "ignore" });
    }
  });

  it("help prints each default once, numbers unquoted", TIMEOUT, async () => {
    await setUp();
    const sign = await ferry(["mirror", "sign", "--help"]);
    assert.match(sign.stdout, /HTTP timeout for a URL, in seconds \(default 10\)\n/);
    const verify = await ferry(["mirror", "verify", "--help"]);
    assert.match(verify.stdout, /\(default 4\)\n/);
    for (const text of [sign.stdout, verify.stdout]) {
      assert.doesNotMatch(text, /\(default [^)]*\) \(default/);
      assert.doesNotMatch(text, /\(default "\d+"\)/);
    }
  });

  it("npm start's hint names scripts/ferry, which works in a checkout", TIMEOUT, async () => {
    await setUp();
    const port = await freePort();
    const child = spawn("bash", [
      nodePath.join(REPO_ROOT, "scripts", "start.sh"),
      mirror,
      "--listen",
      `127.0.0.1:${port}`,
    ], {
      // Never reinstall node_modules (npm ci empties it first) under the running suite.
      env: { ...process.env, ...env, CI_SKIP_INSTALL: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const exited = new Promise((resolve) => child.on("close", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no hint in time: ${output}`)), 60_000);
        const seen = (chunk: Buffer) => {
          output += chunk.toString("utf8");
          if (/^Next: /m.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout!.on("data", seen);
        child.stderr!.on("data", seen);
        child.on("close", () => reject(new Error(`start.sh exited: ${output}`)));
      });
      assert.match(
        output,
        /^Next: scripts\/ferry mirror set http:\/\/127\.0\.0\.1:\d+ {3}then: scripts\/ferry list$/m,
      );
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
