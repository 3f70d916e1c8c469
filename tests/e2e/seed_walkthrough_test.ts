/**
 * The seeds' walkthroughs (000 "build a private mirror", 001/002 "create a private mirror")
 * replayed command by command with `tiup` replaced by `ferry`, on one profile, checking what each
 * command prints and leaves on disk:
 *
 * - clone: metadata only, `--os/--arch`, a bad platform, `--<comp>`, `--prefix`, a global version,
 *   `--full`, a refresh in the same directory;
 * - the offline install (`tar czf`, `sh local_install.sh`, `TIUP_MIRRORS=DIR ferry …`) and the
 *   private mirror over HTTP (`curl $TIUP_MIRRORS/install.sh | sh`);
 * - the custom repository: init, genkey, set, grant, package, publish, run, modify (with TiUP's
 *   `--hide=false`), renew, show, and merge into the clone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { hostPlatform } from "../../lib/client/host_platform.ts";
import { makeSourceMirror, type SourceMirror } from "../_simulator.ts";
import { type FerryResult, makeTempDir, runFerryExpecting, type RunningFerry } from "./_cli.ts";
import { selfBinaryArgs, serveMirror, verifyMirrorDir } from "./_clone_fixtures.ts";
import { HELLO_C, HOST as HOST_PACKAGE } from "./_walkthrough.ts";

const TIMEOUT = { timeout: 600_000 };
const HOST = hostPlatform();

/** Files of a mirror directory named like tarballs, sorted. */
async function tarballs(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((name) => name.endsWith(".tar.gz")).sort();
}

/**
 * The versioned component tarballs of a mirror directory, sorted: without ferry itself (every
 * clone carries it) and the installers' unversioned copies (COMP-OS-ARCH.tar.gz).
 */
async function componentTarballs(dir: string): Promise<string[]> {
  return (await tarballs(dir)).filter((name) => /-v\d/.test(name) && !name.startsWith("ferry-"));
}

async function exists(path: string): Promise<boolean> {
  return await fs.stat(path).then(() => true, () => false);
}

/** The environment of a process with nothing of the caller's profile or mirror settings. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  for (const name of ["FERRY_HOME", "FERRY_MIRROR", "TIUP_HOME", "TIUP_MIRRORS"]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** Runs an installer script with `sh ARGS` and asserts that it succeeded. */
function runInstaller(args: string[], cwd: string, env: NodeJS.ProcessEnv): void {
  const install = spawnSync("sh", args, { cwd, env, encoding: "utf8", timeout: 120_000 });
  assert.equal(install.status, 0, install.stdout + install.stderr);
}

describe("the seeds' walkthroughs with tiup replaced by ferry", () => {
  let source: SourceMirror;
  let sourceServer: RunningFerry;
  let sourceUrl: string;
  let work: { dir: string; remove(): Promise<void> };
  let self: string[];
  let env: Record<string, string | undefined>;
  const servers: RunningFerry[] = [];

  /** `ferry ARGS` in the work directory with the walkthrough's profile; asserts the exit code. */
  async function ferry(
    args: string[],
    expectCode = 0,
    extraEnv: Record<string, string | undefined> = {},
  ): Promise<FerryResult> {
    return await runFerryExpecting(args, expectCode, {
      cwd: work.dir,
      env: { ...env, ...extraEnv },
      timeoutMs: 300_000,
    });
  }

  /** `ferry mirror clone TARGET ...ARGS` from the profile's mirror (the served source). */
  function clone(target: string, args: string[], expectCode = 0): Promise<FerryResult> {
    return ferry(
      ["mirror", "clone", nodePath.join(work.dir, target), ...args, ...self],
      expectCode,
    );
  }

  before(async () => {
    const now = new Date();
    source = await makeSourceMirror({ populate: true, now });
    // The host's own build too, so that an installed client can run what it installs here.
    if (!["linux-amd64", "linux-arm64"].includes(HOST_PACKAGE)) {
      await source.publish("tidb", "v1.2.0", `${HOST.os}/${HOST.arch}`, { now });
    }
    const served = await serveMirror(source.dir);
    sourceServer = served.server;
    sourceUrl = served.url;
    work = await makeTempDir("ferry-e2e-seeds");
    self = await selfBinaryArgs(work.dir);
    env = {
      FERRY_HOME: nodePath.join(work.dir, "home"),
      USER: "jdoe",
      FERRY_MIRROR: undefined,
      TIUP_MIRRORS: undefined,
      TIUP_HOME: undefined,
    };
    // The seeds clone from the mirror the profile uses (TiUP's official one there; ours here).
    const set = await ferry(["mirror", "set", sourceUrl]);
    assert.match(set.stdout + set.stderr, /root/i);
  }, TIMEOUT);

  after(async () => {
    for (const server of servers) await server.stop();
    await sourceServer?.stop();
    await source?.remove();
    await work?.remove();
  }, TIMEOUT);

  test("seed 000: with no version and no --full only metadata is cloned", TIMEOUT, async () => {
    await clone("meta", []);
    const dir = nodePath.join(work.dir, "meta");
    for (const file of ["root.json", "timestamp.json", "snapshot.json"]) {
      assert.ok(await exists(nodePath.join(dir, file)), file);
    }
    assert.deepEqual(
      await componentTarballs(dir),
      [],
      "no component tarballs without a version or --full",
    );
    await verifyMirrorDir(dir);
  });

  test("seed 000: --os and --arch limit the platforms", TIMEOUT, async () => {
    await clone("linux-amd64", ["--tidb", "v1.1.0", "--os=linux", "--arch=amd64"]);
    const dir = nodePath.join(work.dir, "linux-amd64");
    assert.deepEqual(
      (await tarballs(dir)).filter((name) => name.startsWith("tidb")),
      ["tidb-v1.1.0-linux-amd64.tar.gz"],
    );
    await clone("linux-only", ["--tidb", "v1.1.0", "--os=linux"]);
    assert.deepEqual(
      (await tarballs(nodePath.join(work.dir, "linux-only"))).filter((n) => n.startsWith("tidb")),
      ["tidb-v1.1.0-linux-amd64.tar.gz", "tidb-v1.1.0-linux-arm64.tar.gz"],
    );
    await clone("amd64-only", ["--tidb", "v1.1.0", "--arch=amd64"]);
    assert.deepEqual(
      (await tarballs(nodePath.join(work.dir, "amd64-only"))).filter((n) => n.startsWith("tidb")),
      ["tidb-v1.1.0-darwin-amd64.tar.gz", "tidb-v1.1.0-linux-amd64.tar.gz"],
    );
  });

  test(
    "seed 000: `--arch amd64,arm` is a usage error that suggests arm64 and creates nothing",
    TIMEOUT,
    async () => {
      const bad = await clone("bad-arch", ["--tidb", "v1.1.0", "--arch", "amd64,arm"], 2);
      assert.match(bad.stderr, /arm/);
      assert.match(bad.stderr, /arm64/);
      const badOs = await clone("bad-os", ["--tidb", "v1.1.0", "--os", "windows"], 2);
      assert.match(badOs.stderr, /windows/);
      const left = (await fs.readdir(work.dir)).filter((name) => name.includes("bad-"));
      assert.deepEqual(left, [], "a refused clone leaves nothing behind");
    },
  );

  test("seed 000/001: --tidb picks versions; a prefix needs --prefix", TIMEOUT, async () => {
    await clone("pick", ["--tidb", "v1.2.0", "--pd", "all", "--os=linux", "--arch=amd64"]);
    assert.deepEqual(
      await componentTarballs(nodePath.join(work.dir, "pick")),
      [
        "pd-v1.1.0-linux-amd64.tar.gz",
        "pd-v1.2.0-linux-amd64.tar.gz",
        "tidb-v1.2.0-linux-amd64.tar.gz",
      ],
    );
    // `--tikv v4` in seed 000: without --prefix a partial version matches nothing, and the
    // error says how to match by prefix.
    const partial = await clone("partial", ["--tidb", "v1.1", "--os=linux", "--arch=amd64"], 2);
    assert.match(partial.stderr, /v1\.1/);
    assert.match(partial.stderr, /--prefix/);
    await clone("prefixed", ["--tidb", "v1.1", "--prefix", "--os=linux", "--arch=amd64"]);
    assert.deepEqual(
      (await tarballs(nodePath.join(work.dir, "prefixed"))).filter((n) => n.startsWith("tidb")),
      ["tidb-v1.1.0-linux-amd64.tar.gz"],
    );
  });

  test("seed 000: --full clones every version of every component", TIMEOUT, async () => {
    await clone("full", ["--full"]);
    const usable = await verifyMirrorDir(nodePath.join(work.dir, "full"));
    for (const version of ["v1.0.0", "v1.1.0", "v1.2.0"]) {
      assert.ok(usable.includes(`tidb ${version} linux/arm64`), usable.join("\n"));
      assert.ok(usable.includes(`tidb ${version} darwin/amd64`), usable.join("\n"));
    }
    assert.ok(usable.includes("hello-any v0.1.0 any/any"), usable.join("\n"));
  });

  test(
    "seed 000 offline install: global version, tar, local_install.sh, TIUP_MIRRORS=DIR",
    TIMEOUT,
    async () => {
      await clone("package", ["--os=linux", "v1.2.0"]);
      const usable = await verifyMirrorDir(nodePath.join(work.dir, "package"));
      assert.ok(usable.includes("tidb v1.2.0 linux/amd64"), usable.join("\n"));
      assert.ok(usable.includes("pd v1.2.0 linux/amd64"), usable.join("\n"));
      assert.ok(!usable.includes("tidb v1.1.0 linux/amd64"), "only the global version");

      // tar czvf package.tar.gz package; on the isolated host: tar xzvf, cd package, sh …
      const offline = nodePath.join(work.dir, "offline");
      await fs.mkdir(offline);
      execFileSync("tar", ["czf", "package.tar.gz", "package"], { cwd: work.dir });
      execFileSync("tar", ["xzf", nodePath.join(work.dir, "package.tar.gz")], { cwd: offline });
      const mirror = nodePath.join(offline, "package");
      const home = nodePath.join(work.dir, "offline-home");
      await fs.mkdir(home);
      const installEnv = cleanEnv({
        HOME: home,
        SHELL: "/bin/bash",
        PATH: "/usr/bin:/bin",
        http_proxy: "http://127.0.0.1:9",
        https_proxy: "http://127.0.0.1:9",
      });
      runInstaller(["local_install.sh"], mirror, installEnv);
      const installed = nodePath.join(home, ".ferry", "bin", "ferry");
      // export TIUP_MIRRORS=/path/to/mirror, then use it.
      const runEnv = { ...installEnv, TIUP_MIRRORS: mirror };
      const list = execFileSync(installed, ["list"], { env: runEnv, encoding: "utf8" });
      assert.match(list, /tidb/);
      const run = execFileSync(installed, ["tidb"], { env: runEnv, encoding: "utf8" });
      assert.equal(run.trim(), `tidb v1.2.0 ${HOST.os}/${HOST.arch}`);
    },
  );

  test(
    "seed 000 private mirror: serve the clone, then curl $TIUP_MIRRORS/install.sh | sh",
    TIMEOUT,
    async () => {
      const { url, server } = await serveMirror(nodePath.join(work.dir, "package"));
      servers.push(server);
      const home = nodePath.join(work.dir, "http-home");
      await fs.mkdir(home);
      const installEnv = cleanEnv({
        HOME: home,
        SHELL: "/bin/bash",
        PATH: "/usr/bin:/bin",
        TIUP_MIRRORS: url,
      });
      runInstaller(["-c", 'curl -fsS "$TIUP_MIRRORS/install.sh" | sh'], home, installEnv);
      const installed = nodePath.join(home, ".ferry", "bin", "ferry");
      const run = execFileSync(installed, ["tidb"], { env: installEnv, encoding: "utf8" });
      assert.equal(run.trim().split("\n").pop(), `tidb v1.2.0 ${HOST.os}/${HOST.arch}`);
    },
  );

  test(
    "seed 001: re-running clone into the same directory adds the newest versions",
    TIMEOUT,
    async () => {
      await source.publish("pd", "v1.3.0", "linux/amd64", { now: new Date() });
      const keys = (await fs.readdir(nodePath.join(work.dir, "package", "keys"))).sort();
      await clone("package", ["--os=linux", "v1.2.0", "--pd", "latest"]);
      const usable = await verifyMirrorDir(nodePath.join(work.dir, "package"));
      assert.ok(usable.includes("pd v1.3.0 linux/amd64"), usable.join("\n"));
      assert.ok(usable.includes("pd v1.2.0 linux/amd64"), "what was cloned before stays");
      assert.ok(usable.includes("tidb v1.2.0 linux/amd64"), "what was cloned before stays");
      assert.deepEqual(
        (await fs.readdir(nodePath.join(work.dir, "package", "keys"))).sort(),
        keys,
        "the clone's keys are kept",
      );
    },
  );

  test(
    "seeds 001/002 custom repository: init, genkey, set, grant, package, publish, run",
    TIMEOUT,
    async () => {
      const mirror = nodePath.join(work.dir, "data", "mirror");
      const init = await ferry(["mirror", "init", mirror]);
      assert.ok(await exists(nodePath.join(mirror, "keys")), init.stdout + init.stderr);
      const genkey = await ferry(["mirror", "genkey"]);
      assert.match(genkey.stderr, /home\/keys\/private\.json/);
      await ferry(["mirror", "set", mirror]);
      const grant = await ferry(["mirror", "grant", "jdoe"]);
      assert.match(grant.stdout, /Granted "jdoe"/);

      await fs.writeFile(nodePath.join(work.dir, "hello.c"), HELLO_C);
      execFileSync("gcc", ["hello.c", "-o", "hello"], { cwd: work.dir, timeout: 60_000 });
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
      const tarball = `package/hello-v0.0.1-${HOST_PACKAGE}.tar.gz`;
      assert.ok(await exists(nodePath.join(work.dir, tarball)), tarball);
      const publish = await ferry(["mirror", "publish", "hello", "v0.0.1", tarball, "hello"]);
      assert.match(publish.stdout, /Published hello v0\.0\.1/);

      const run = await ferry(["hello"]);
      assert.equal(run.stdout.trim().split("\n").pop(), "hello");

      const show = await ferry(["mirror", "show"]);
      assert.equal(show.stdout.trim(), mirror);
    },
  );

  test("seed 001: modify (TiUP's --hide=false) and renew", TIMEOUT, async () => {
    await ferry(["mirror", "modify", "hello", "--hide"]);
    const hidden = await ferry(["list"]);
    assert.doesNotMatch(hidden.stdout, /^hello\b/m, "a hidden component is not listed");
    const all = await ferry(["list", "--all"]);
    assert.match(all.stdout, /^hello\b/m);
    await ferry(["mirror", "modify", "hello", "--hide=false"]);
    const shown = await ferry(["list"]);
    assert.match(shown.stdout, /^hello\b/m, "--hide=false shows it again");

    const renew = await ferry(["mirror", "renew", "hello", "--days", "365"]);
    assert.equal(renew.code, 0);
    await verifyMirrorDir(nodePath.join(work.dir, "data", "mirror"));
  });

  test(
    "seed 001: merge the custom components into the clone; the clone then runs hello",
    TIMEOUT,
    async () => {
      const target = nodePath.join(work.dir, "package");
      await ferry(["mirror", "set", target]);
      await ferry(["mirror", "grant", "jdoe"]);
      const merge = await ferry(["mirror", "merge", nodePath.join(work.dir, "data", "mirror")]);
      assert.match(merge.stdout + merge.stderr, /hello/);
      const usable = await verifyMirrorDir(target);
      assert.ok(usable.includes(`hello v0.0.1 ${HOST.os}/${HOST.arch}`), usable.join("\n"));
      assert.ok(usable.includes("tidb v1.2.0 linux/amd64"), "the clone's own versions stay");
      const run = await ferry(["hello"]);
      assert.equal(run.stdout.trim().split("\n").pop(), "hello");
    },
  );
});
