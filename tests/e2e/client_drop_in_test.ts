/**
 * An operator's day on one profile (issue 9): the README demo (`ferry mirror serve` with its demo
 * mirror, `mirror set`, `list`, `ferry hello`), then the seeds' custom-component walkthrough on
 * the same profile (`package`, `mirror init`, `genkey`, `mirror set`, `grant`, `publish`, `ferry
 * hello`); a wrong trust root given to `mirror set` and `clone --source-root`; a version a clone
 * did not copy; and a TiUP profile shared by `tiup` and `ferry`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import {
  assertExitCode,
  freePort,
  makeTempDir,
  runFerry,
  type RunFerryOptions,
  type RunningFerry,
  startFerry,
} from "./_cli.ts";
import { HELLO_C, HOST } from "./_walkthrough.ts";

const TIMEOUT = { timeout: 240_000 };

describe("an operator's day on one profile (README demo, then seeds 001/002)", () => {
  let temp: { dir: string; remove(): Promise<void> };
  let home: string;
  let server: RunningFerry | undefined;
  let demoUrl: string;
  let demoRoot: string;
  let mirror: string;

  const ferry = async (args: string[], expectCode = 0, options: RunFerryOptions = {}) => {
    const result = await runFerry(args, {
      cwd: temp.dir,
      timeoutMs: 120_000,
      ...options,
      env: {
        FERRY_HOME: home,
        TIUP_HOME: undefined,
        FERRY_MIRROR: undefined,
        TIUP_MIRRORS: undefined,
        USER: "jdoe",
        ...options.env,
      },
    });
    assertExitCode(result, args, expectCode);
    return result;
  };
  const lastLine = (text: string) => text.trim().split("\n").pop();

  // Set up by the first test rather than in before(): Bun's hooks ignore a timeout option and
  // give up after 5 s, less than starting the server and building the demo mirror can take.
  let setup: Promise<void> | undefined;
  const ready = () => (setup ??= start());
  async function start(): Promise<void> {
    temp = await makeTempDir("ferry-e2e-day");
    home = nodePath.join(temp.dir, "home");
    mirror = nodePath.join(temp.dir, "m");
    const port = await freePort();
    // `npm start`: serves the demo mirror, created under the profile on first run.
    server = await startFerry(["mirror", "serve", "--listen", `127.0.0.1:${port}`], {
      readyPattern: /Serving .* at (https?:\/\/\S+)/,
      env: { FERRY_HOME: home, TIUP_HOME: undefined },
    });
    demoUrl = `http://127.0.0.1:${port}`;
    demoRoot = nodePath.join(home, "demo-mirror", "root.json");
  }
  after(async () => {
    await setup?.catch(() => {});
    await server?.stop();
    await temp?.remove();
  });

  it(
    "ferry hello runs the custom hello after the demo's v1.1.0 (fault: a version installed from another mirror)",
    TIMEOUT,
    async () => {
      await ready();
      // The README demo.
      await ferry(["mirror", "set", demoUrl]);
      assert.match((await ferry(["list"])).stdout, /hello/);
      assert.equal(lastLine((await ferry(["hello", "world"])).stdout), "hello world");

      // The custom-component walkthrough, same profile.
      await fs.writeFile(nodePath.join(temp.dir, "hello.c"), HELLO_C);
      execFileSync("gcc", ["hello.c", "-o", "hello"], { cwd: temp.dir, timeout: 60_000 });
      await ferry(["package", "hello", "--name", "hello", "--release", "v0.0.1"]);
      await ferry(["mirror", "init", mirror]);
      await ferry(["mirror", "genkey"]);
      await ferry(["mirror", "set", mirror]);
      await ferry(["mirror", "grant", "jdoe"]);
      const tarball = `package/hello-v0.0.1-${HOST}.tar.gz`;
      await ferry(["mirror", "publish", "hello", "v0.0.1", tarball, "hello"]);

      // v1.1.0 (installed from the demo mirror) is not this mirror's: its own v0.0.1 runs.
      const run = await ferry(["hello", "x"]);
      assert.equal(lastLine(run.stdout), "hello", "the custom hello ignores its arguments");
      assert.match(run.stderr, /components\/hello\/v0\.0\.1\/hello/);
      assert.doesNotMatch(run.stderr, /is available \(running/);
      assert.match(
        (await ferry(["install", "hello"])).stdout,
        /hello v0\.0\.1 is already installed/,
      );
      assert.equal(lastLine((await ferry(["hello"])).stdout), "hello");
      // Offline, the choice is the same: what this mirror offered when last seen.
      await fs.rename(mirror, `${mirror}.away`);
      try {
        const offline = await ferry(["hello", "y"]);
        assert.equal(lastLine(offline.stdout), "hello");
        assert.match(
          offline.stderr,
          /Cannot reach the mirror.*running the installed hello v0\.0\.1/,
        );
      } finally {
        await fs.rename(`${mirror}.away`, mirror);
      }
      // The demo's build, named explicitly, still runs without its mirror.
      assert.equal(lastLine((await ferry(["hello:v1.1.0", "again"])).stdout), "hello again");
    },
  );

  it(
    "mirror set and clone --source-root refuse a root of another mirror before saving anything",
    TIMEOUT,
    async () => {
      await ready();
      await ferry(["mirror", "set", mirror]);
      const config = await fs.readFile(nodePath.join(home, "ferry.toml"), "utf8");
      const anchor = await fs.readFile(nodePath.join(home, "bin", "root.json"));

      const wrong = await ferry(["mirror", "set", mirror, "--root", demoRoot], 3);
      assert.match(wrong.stderr, /does not belong to the mirror/);
      assert.match(wrong.stderr, /signatures are valid/);
      assert.equal(await fs.readFile(nodePath.join(home, "ferry.toml"), "utf8"), config);
      assert.deepEqual(await fs.readFile(nodePath.join(home, "bin", "root.json")), anchor);
      await ferry(["list"]); // the profile still works

      // Unreachable is told apart from wrong.
      const closed = `http://127.0.0.1:${await freePort()}`;
      const down = await ferry(["mirror", "set", closed, "--root", demoRoot], 4);
      assert.match(down.stderr, /Cannot reach the mirror/);
      assert.doesNotMatch(down.stderr, /does not belong/);
      assert.equal(await fs.readFile(nodePath.join(home, "ferry.toml"), "utf8"), config);

      const target = nodePath.join(temp.dir, "clone-wrong-root");
      const clone = await ferry(
        ["mirror", "clone", target, "--source", mirror, "--source-root", demoRoot, "--full"],
        3,
      );
      assert.match(clone.stderr, /does not belong to the mirror/);
      assert.equal(await fs.stat(target).then(() => true, () => false), false);
    },
  );

  it(
    "a version the clone did not copy is reported as not carried, not as withdrawn",
    TIMEOUT,
    async () => {
      await ready();
      const target = nodePath.join(temp.dir, "clone-partial");
      await ferry([
        "mirror",
        "clone",
        target,
        "--source",
        demoUrl,
        "--source-root",
        demoRoot,
        "--hello",
        "v1.1.0",
        "--skip-ferry-binary",
      ]);
      const other = nodePath.join(temp.dir, "home-clone");
      const options = { env: { FERRY_HOME: other } };
      await ferry(["mirror", "set", target], 0, options);
      const result = await ferry(["install", "hello:v1.0.0"], 2, options);
      assert.match(result.stderr, /this mirror does not carry it/);
      assert.doesNotMatch(result.stderr, /withdrawn by its publisher/);
      await ferry(["install", "hello:v1.1.0"], 0, options);
    },
  );

  it(
    "a TiUP profile is shared: mirror set writes tiup.toml, and what tiup sets is seen",
    TIMEOUT,
    async () => {
      await ready();
      const tiupHome = nodePath.join(temp.dir, "tiup-home");
      const options = { env: { FERRY_HOME: undefined, TIUP_HOME: tiupHome } };
      await ferry(["mirror", "set", mirror], 0, options);
      assert.equal(
        await fs.readFile(nodePath.join(tiupHome, "tiup.toml"), "utf8"),
        `mirror = ${JSON.stringify(mirror)}\n`,
      );
      assert.equal(
        await fs.stat(nodePath.join(tiupHome, "ferry.toml")).catch(() => "absent"),
        "absent",
      );
      assert.deepEqual(
        await fs.readFile(nodePath.join(tiupHome, "bin", "root.json")),
        await fs.readFile(nodePath.join(mirror, "root.json")),
      );
      assert.match((await ferry(["list"], 0, options)).stdout, /hello/);

      // `tiup mirror set DEMO` as TiUP's ResetMirror does it: bin/root.json, manifests/ removed,
      // tiup.toml rewritten.
      await fs.copyFile(demoRoot, nodePath.join(tiupHome, "bin", "root.json"));
      await fs.rm(nodePath.join(tiupHome, "manifests"), { recursive: true, force: true });
      await fs.writeFile(nodePath.join(tiupHome, "tiup.toml"), `mirror = "${demoUrl}"\n`);
      assert.equal((await ferry(["mirror", "show"], 0, options)).stdout.trim(), demoUrl);
      assert.match((await ferry(["list", "hello"], 0, options)).stdout, /v1\.1\.0/);

      // TIUP_MIRRORS switches the shared profile, as tiup does (pkg/environment/env.go Mirror).
      await ferry(["list"], 0, { env: { ...options.env, TIUP_MIRRORS: mirror } });
      assert.equal(
        await fs.readFile(nodePath.join(tiupHome, "tiup.toml"), "utf8"),
        `mirror = ${JSON.stringify(mirror)}\n`,
      );
    },
  );
});
