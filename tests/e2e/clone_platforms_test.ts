/**
 * A clone carries ferry for every selected platform (issue 9, item 13): binaries come from a
 * release directory (`scripts/build_binary.sh --all` → dist/<os>-<arch>/ferry), a platform
 * without one is named, and the linux/arm64 build that a clone carries installs through
 * local_install.sh on an "arm64 host" and verifies the clone under qemu-aarch64-static.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, test } from "node:test";
import { BINARY_HEADER_BYTES, binaryPlatform } from "../../lib/mirror/clone/binary_platform.ts";
import { makeTempDir, REPO_ROOT, runFerry } from "./_cli.ts";
import { selfBinaryArgs } from "./_clone_fixtures.ts";

const E2E_TIMEOUT = { timeout: 300_000 };
/** Where the cross-built binaries are, and what runs the arm64 one on this amd64 machine. */
const RELEASE_DIR = nodePath.join(REPO_ROOT, "dist");
const ARM64_BINARY = nodePath.join(RELEASE_DIR, "linux-arm64", "ferry");
const QEMU = "/usr/bin/qemu-aarch64-static";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu"; // Debian's libc6-arm64-cross
const canEmulate = existsSync(ARM64_BINARY) && existsSync(QEMU) &&
  existsSync(nodePath.join(ARM64_SYSROOT, "lib", "ld-linux-aarch64.so.1"));

describe("ferry mirror clone carries ferry per platform", () => {
  let work: { dir: string; remove(): Promise<void> } | undefined;
  let source = "";
  let started: Promise<string> | undefined;
  /**
   * A temp dir with an empty source mirror, made by the first test that needs it (not in a
   * before() hook: Bun gives hooks 5 s whatever the options say). Returns the temp dir.
   */
  const ready = () =>
    started ??= (async () => {
      work = await makeTempDir("ferry-e2e-platforms");
      source = nodePath.join(work.dir, "source");
      const init = await runFerry(["mirror", "init", source], { timeoutMs: 60_000 });
      assert.equal(init.code, 0, init.stderr);
      return work.dir;
    })();
  after(async () => await work?.remove());

  const clone = (pkg: string, os: string, arch: string, release: string, ...more: string[]) =>
    runFerry(
      ["mirror", "clone", pkg, "--source", source, "--os", os, "--arch", arch, "--ferry-binaries"]
        .concat(release, more),
      { timeoutMs: 240_000 },
    );

  test("names each selected platform it has no ferry binary for", E2E_TIMEOUT, async () => {
    const dir = await ready();
    const release = nodePath.join(dir, "release");
    await fs.mkdir(nodePath.join(release, "linux-arm64"), { recursive: true });
    await fs.writeFile(nodePath.join(release, "linux-arm64", "ferry"), "#!/bin/sh\necho arm\n", {
      mode: 0o755,
    });
    const pkg = nodePath.join(dir, "pkg-missing");
    const self = await selfBinaryArgs(dir);
    const result = await clone(pkg, "linux,darwin", "amd64,arm64", release, ...self);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /carries no ferry for darwin\/amd64, darwin\/arm64/);
    assert.match(
      result.stderr,
      new RegExp(
        `No ferry binary for darwin/arm64 \\(looked for "${release}/darwin-arm64/ferry"\\)`,
      ),
    );
    for (const name of ["linux-amd64", "linux-arm64"]) {
      await fs.stat(nodePath.join(pkg, `ferry-${name}.tar.gz`));
    }
    await assert.rejects(fs.stat(nodePath.join(pkg, "ferry-darwin-arm64.tar.gz")));
  });

  test("refuses a --ferry-binaries directory that does not exist", E2E_TIMEOUT, async () => {
    const dir = await ready();
    const missing = nodePath.join(dir, "no-such-release");
    const result = await runFerry([
      "mirror",
      "clone",
      nodePath.join(dir, "pkg-refused"),
      "--source",
      source,
      "--ferry-binaries",
      missing,
    ], { timeoutMs: 60_000 });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /Cannot read the ferry binaries directory/);
    assert.equal(existsSync(nodePath.join(dir, "pkg-refused")), false);
  });

  test(
    "the linux/arm64 ferry a clone carries installs on an arm64 host and verifies the clone (qemu)",
    { ...E2E_TIMEOUT, skip: !canEmulate && "needs dist/linux-arm64/ferry and qemu-user-static" },
    async () => {
      const dir = await ready();
      const pkg = nodePath.join(dir, "pkg-arm64");
      const cloned = await clone(pkg, "linux", "arm64", RELEASE_DIR, "--json");
      assert.equal(cloned.code, 0, cloned.stderr);
      const report = JSON.parse(cloned.stdout);
      assert.deepEqual(report.ferryMissing, []);
      // Packed at most once per build: a second new clone copies dist/linux-arm64/ferry.tar.gz.
      const second = await clone(
        nodePath.join(dir, "pkg-arm64-2"),
        "linux",
        "arm64",
        RELEASE_DIR,
        "--json",
      );
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout).ferryPacked, [], "the pack cache was used");
      assert.ok(existsSync(`${ARM64_BINARY}.tar.gz`));

      // An "arm64 host": uname says so; the binaries run through qemu.
      const fakeBin = nodePath.join(dir, "fake-bin");
      await fs.mkdir(fakeBin, { recursive: true });
      await fs.writeFile(
        nodePath.join(fakeBin, "uname"),
        '#!/bin/sh\ncase "$1" in -m) echo aarch64 ;; *) echo Linux ;; esac\n',
        { mode: 0o755 },
      );
      const home = nodePath.join(dir, "arm-home");
      await fs.mkdir(home, { recursive: true });
      const env = {
        PATH: `${fakeBin}:/usr/bin:/bin`,
        HOME: home,
        SHELL: "/bin/sh",
        QEMU_LD_PREFIX: ARM64_SYSROOT,
      };
      const install = spawnSync("sh", [nodePath.join(pkg, "local_install.sh")], {
        env,
        cwd: home,
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(install.status, 0, install.stderr);
      assert.match(install.stdout, /Installed ferry into/);
      const installed = nodePath.join(home, ".ferry", "bin", "ferry");
      const head = (await fs.readFile(installed)).subarray(0, BINARY_HEADER_BYTES);
      assert.equal(binaryPlatform(head), "linux/arm64");

      const run = (args: string[]) =>
        spawnSync(QEMU, [installed, ...args], {
          env: { ...env, FERRY_HOME: nodePath.join(home, ".ferry"), NO_COLOR: "1" },
          encoding: "utf8",
          timeout: 180_000,
        });
      const version = run(["--version"]);
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, /^ferry \d+\.\d+\.\d+/);
      const verify = run(["mirror", "verify", pkg]);
      assert.equal(verify.status, 0, `${verify.stdout}${verify.stderr}`);
    },
  );
});
