/**
 * The TiUP-style client as a user drives it (seeds 000–002): a mirror built with `ferry mirror
 * init/genkey/grant/publish`, served by `ferry mirror serve`, then with a fresh FERRY_HOME:
 * `ferry mirror set`, `ferry list`, `ferry install`, `ferry <component>`, `ferry uninstall`, and
 * the attacks and failures a client must refuse.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, before, describe, it } from "node:test";
import { initRepository } from "../../lib/writer/init_repository.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { rawTarGz } from "../archive/_raw_tar.ts";
import {
  freePort,
  makeTempDir,
  type RunFerryOptions,
  runFerryWithProfile,
  type RunningFerry,
  startFerry,
} from "./_cli.ts";

const TIMEOUT = { timeout: 180_000 };
const DAY = 86_400_000;

/** The component's entry: prints its args; --exit N exits N; --cat copies stdin; --trap waits. */
const HELLO = `#!/bin/sh
case "$1" in
  --exit) exit "$2" ;;
  --cat) cat; exit 0 ;;
  --trap)
    n=0
    trap 'n=$((n+1)); echo "got TERM $n"; if [ $n -ge 2 ]; then exit 42; fi' TERM
    echo "ready $$"
    while true; do sleep 0.1; done ;;
esac
echo "args: $*"
`;

describe("ferry client against a served mirror", () => {
  let base: { dir: string; remove(): Promise<void> };
  let mirror: string;
  let publisher: string;
  let server: RunningFerry;
  let url: string;
  let rootKeyIds: string[];

  /** Runs ferry with a profile and no mirror variables from the test's environment. */
  const ferry = (args: string[], home: string, options: RunFerryOptions = {}) =>
    runFerryWithProfile(args, home, options);
  const newHome = async (name: string) => {
    const dir = nodePath.join(base.dir, name);
    await fs.mkdir(dir);
    return dir;
  };
  const exists = (path: string) => fs.lstat(path).then(() => true, () => false);
  const publish = async (name: string, version: string, tarball: string, entry = name) => {
    const result = await ferry(
      [
        "mirror",
        "publish",
        name,
        version,
        tarball,
        entry,
        "--mirror",
        mirror,
        "--desc",
        `The ${name} tool`,
      ],
      publisher,
    );
    assert.equal(result.code, 0, result.stderr);
  };

  before(async () => {
    base = await makeTempDir("ferry-e2e-client");
    mirror = nodePath.join(base.dir, "mirror");
    publisher = await newHome("publisher");
    const init = await ferry(["mirror", "init", mirror], publisher);
    assert.equal(init.code, 0, init.stderr);
    rootKeyIds = (await fs.readdir(nodePath.join(mirror, "keys")))
      .filter((name) => name.endsWith("-root.json"))
      .map((name) => name.slice(0, 16));
    assert.equal(rootKeyIds.length, 3);
    assert.equal((await ferry(["mirror", "genkey"], publisher)).code, 0);
    const grant = await ferry(["mirror", "grant", "jdoe", "--mirror", mirror], publisher);
    assert.equal(grant.code, 0, grant.stderr);

    const pkg = nodePath.join(base.dir, "pkg");
    await fs.mkdir(pkg);
    await fs.writeFile(nodePath.join(pkg, "hello"), HELLO, { mode: 0o755 });
    const tarball = nodePath.join(base.dir, "hello.tar.gz");
    execFileSync("tar", ["-czf", tarball, "-C", pkg, "hello"], { timeout: 30_000 });
    await publish("hello", "v1.0.0", tarball);

    const port = await freePort();
    server = await startFerry(["mirror", "serve", mirror, "--listen", `127.0.0.1:${port}`], {
      readyPattern: /Serving .* at (https?:\/\/\S+)/,
    });
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await server?.stop();
    await base?.remove();
  });

  it(
    "refuses to work before a root is trusted and says to run mirror set (TiUP #893)",
    TIMEOUT,
    async () => {
      const home = await newHome("no-root");
      const result = await ferry(["list"], home);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /ferry mirror set <mirror>/);
    },
  );

  it("sets, shows, lists, installs, runs and uninstalls", TIMEOUT, async () => {
    const home = await newHome("client");
    const set = await ferry(["mirror", "set", url], home);
    assert.equal(set.code, 0, set.stderr);
    for (const id of rootKeyIds) assert.match(set.stdout, new RegExp(id), "root key fingerprints");
    assert.match(set.stdout, /root\.json v1/);
    assert.match(set.stderr, /plain http/);
    assert.match(await fs.readFile(nodePath.join(home, "ferry.toml"), "utf8"), new RegExp(url));

    const show = await ferry(["mirror", "show"], home);
    assert.equal(show.stdout.trim(), url);

    const list = await ferry(["list"], home);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /hello\s+jdoe\s+The hello tool/);
    const versions = await ferry(["list", "hello", "--json"], home);
    assert.deepEqual(
      JSON.parse(versions.stdout).versions.map((v: { version: string }) => v.version),
      [
        "v1.0.0",
      ],
    );

    const install = await ferry(["install", "hello:v1.0.0"], home);
    assert.equal(install.code, 0, install.stderr);
    assert.ok(await exists(nodePath.join(home, "components", "hello", "v1.0.0", "hello")));
    const again = await ferry(["install", "hello:v1.0.0"], home);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already installed/);

    const run = await ferry(["hello", "a", "b"], home);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "args: a b\n");
    assert.equal((await ferry(["hello", "--exit", "7"], home)).code, 7, "exit code passthrough");
    const cat = await ferry(["hello:v1.0.0", "--cat"], home, { input: "from stdin\n" });
    assert.equal(cat.stdout, "from stdin\n", "stdin passthrough");

    const installed = await ferry(["list", "--installed"], home);
    assert.match(installed.stdout, /hello\s+v1\.0\.0/);
    const uninstall = await ferry(["uninstall", "hello:v1.0.0"], home);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.equal(await exists(nodePath.join(home, "components", "hello")), false);
  });

  it(
    "installs on first run when the component is missing (seed: tiup hello)",
    TIMEOUT,
    async () => {
      const home = await newHome("first-run");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      const run = await ferry(["hello", "x"], home);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "args: x\n");
      assert.match(run.stderr, /not installed; downloading/);
    },
  );

  it(
    "follows TIUP_MIRRORS to a local mirror directory, trusting its root on first use",
    TIMEOUT,
    async () => {
      const home = await newHome("tiup-mirrors");
      const list = await ferry(["list"], home, { env: { TIUP_MIRRORS: mirror } });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /hello/);
      assert.match(list.stderr, /TIUP_MIRRORS/);
    },
  );

  it(
    "forwards signals to the component and exits with its code, even on a second signal",
    TIMEOUT,
    async () => {
      const home = await newHome("signals");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      assert.equal((await ferry(["install", "hello"], home)).code, 0);
      const running = await startFerry(["hello", "--trap"], {
        env: { FERRY_HOME: home, FERRY_MIRROR: undefined, TIUP_MIRRORS: undefined },
        readyPattern: /ready (\d+)/,
      });
      const componentPid = Number(running.ready![1]);
      try {
        process.kill(running.pid, "SIGTERM");
        await waitFor(() => /got TERM 1/.test(running.stdout()));
        process.kill(running.pid, "SIGTERM");
        const exit = await Promise.race([
          running.exited,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20_000)),
        ]);
        assert.equal(exit?.code, 42, `ferry exits with the component's code: ${running.stderr()}`);
        assert.match(running.stdout(), /got TERM 2/);
      } finally {
        await running.stop(2000);
        try {
          process.kill(componentPid, "SIGKILL"); // only if the test failed and left it behind
        } catch {
          // gone, as it should be
        }
      }
    },
  );

  it(
    "runs the installed version with a warning when the mirror cannot be reached",
    TIMEOUT,
    async () => {
      const home = await newHome("offline");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      assert.equal((await ferry(["install", "hello"], home)).code, 0);
      const dead = `http://127.0.0.1:${await freePort()}`;
      await fs.writeFile(nodePath.join(home, "ferry.toml"), `mirror = "${dead}"\n`);
      const run = await ferry(["hello", "offline"], home);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "args: offline\n");
      assert.match(run.stderr, /Cannot reach the mirror/);
    },
  );

  it(
    "keeps the unknown-command error, with a suggestion, for a name that is not a component",
    TIMEOUT,
    async () => {
      const home = await newHome("typo");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      const result = await ferry(["lsit"], home);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /Unknown command "lsit".*did you mean "list"/);
    },
  );

  it(
    "rejects a tampered tarball on the server (hash mismatch) and installs nothing",
    TIMEOUT,
    async () => {
      const pkg = nodePath.join(base.dir, "pkg-tamper");
      await fs.mkdir(pkg);
      await fs.writeFile(nodePath.join(pkg, "tamper"), HELLO, { mode: 0o755 });
      const tarball = nodePath.join(base.dir, "tamper.tar.gz");
      execFileSync("tar", ["-czf", tarball, "-C", pkg, "tamper"], { timeout: 30_000 });
      await publish("tamper", "v1.0.0", tarball);
      const served = (await fs.readdir(mirror)).find((f) => f.startsWith("tamper-v1.0.0-"))!;
      const bytes = await fs.readFile(nodePath.join(mirror, served));
      bytes[bytes.length - 10]! ^= 0xff;
      await fs.writeFile(nodePath.join(mirror, served), bytes);

      const home = await newHome("tamper");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      const result = await ferry(["install", "tamper"], home);
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /sha256/);
      assert.equal(await exists(nodePath.join(home, "components", "tamper")), false);
    },
  );

  it(
    "refuses a signed tarball with ../ entries (extraction refuses it, nothing installed)",
    TIMEOUT,
    async () => {
      const tarball = nodePath.join(base.dir, "evil.tar.gz");
      await fs.writeFile(
        tarball,
        rawTarGz([
          { name: "evil", data: HELLO, mode: 0o755 },
          { name: "../../escaped.txt", data: "pwned" },
        ]),
      );
      await publish("evil", "v1.0.0", tarball);
      const home = await newHome("evil");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      const result = await ferry(["install", "evil"], home);
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /"\.\." segment/);
      assert.equal(await exists(nodePath.join(home, "components", "evil")), false);
      assert.equal(await exists(nodePath.join(home, "escaped.txt")), false);
      assert.equal(await exists(nodePath.join(home, "components", "escaped.txt")), false);
    },
  );

  it("rejects a tampered timestamp with a signature error (exit 3)", TIMEOUT, async () => {
    const home = await newHome("bad-timestamp");
    assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
    const file = nodePath.join(mirror, "timestamp.json");
    const original = await fs.readFile(file);
    try {
      await fs.writeFile(file, original.toString("utf8").replace(/"length":(\d+)/, '"length":$1 '));
      const result = await ferry(["list"], home);
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /signature/i);
    } finally {
      await fs.writeFile(file, original);
    }
  });

  it(
    "rejects a mirror rolled back to an older timestamp after the client saw a newer one",
    TIMEOUT,
    async () => {
      const home = await newHome("rollback");
      assert.equal((await ferry(["mirror", "set", url, "--silent"], home)).code, 0);
      const saved = {
        timestamp: await fs.readFile(nodePath.join(mirror, "timestamp.json")),
        snapshot: await fs.readFile(nodePath.join(mirror, "snapshot.json")),
      };
      await publish("hello", "v1.1.0", await helloTarball("v1.1.0"));
      const seen = await ferry(["list", "hello"], home);
      assert.match(seen.stdout, /v1\.1\.0/);
      const current = {
        timestamp: await fs.readFile(nodePath.join(mirror, "timestamp.json")),
        snapshot: await fs.readFile(nodePath.join(mirror, "snapshot.json")),
      };
      try {
        await fs.writeFile(nodePath.join(mirror, "snapshot.json"), saved.snapshot);
        await fs.writeFile(nodePath.join(mirror, "timestamp.json"), saved.timestamp);
        const result = await ferry(["list"], home);
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stderr, /rolled-back/);
      } finally {
        await fs.writeFile(nodePath.join(mirror, "snapshot.json"), current.snapshot);
        await fs.writeFile(nodePath.join(mirror, "timestamp.json"), current.timestamp);
      }
    },
  );

  it(
    "names the expired timestamp of a stale mirror, and the expired root when the root is the problem",
    TIMEOUT,
    async () => {
      const stale = nodePath.join(base.dir, "stale-mirror");
      await initRepository(new LocalStorage(stale), { now: new Date(Date.now() - 40 * DAY) });
      const home = await newHome("stale");
      assert.equal((await ferry(["mirror", "set", stale, "--silent"], home)).code, 0);
      const result = await ferry(["list"], home);
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /"timestamp\.json" expired on/);

      const ancient = nodePath.join(base.dir, "ancient-mirror");
      await initRepository(new LocalStorage(ancient), { now: new Date(Date.now() - 400 * DAY) });
      const home2 = await newHome("ancient");
      const set = await ferry(["mirror", "set", ancient], home2);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stderr, /expired/);
      const list = await ferry(["list"], home2);
      assert.equal(list.code, 3, list.stderr);
      assert.match(list.stderr, /root v1\) expired on .*2\.root\.json/);
    },
  );

  async function helloTarball(version: string): Promise<string> {
    const pkg = nodePath.join(base.dir, `pkg-${version}`);
    await fs.mkdir(pkg);
    await fs.writeFile(nodePath.join(pkg, "hello"), HELLO, { mode: 0o755 });
    const tarball = nodePath.join(base.dir, `hello-${version}.tar.gz`);
    execFileSync("tar", ["-czf", tarball, "-C", pkg, "hello"], { timeout: 30_000 });
    return tarball;
  }
});

/** Polls `check` every 50 ms for up to 20 s. */
async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), "condition not reached in time");
}
