/**
 * `ferry package` as the seed walkthrough runs it ("Work with custom components"): build the C
 * hello world with gcc, package it, and check the tarball with the system tar.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { makeTempDir, runFerry } from "./_cli.ts";

const TIMEOUT = { timeout: 120_000 };
const HOST_OS = process.platform === "darwin" ? "darwin" : "linux";
const HOST_ARCH = process.arch === "arm64" ? "arm64" : "amd64";
const HELLO_C = `#include <stdio.h>
int main() {
  printf("hello\\n");
  return (0);
}
`;

let temp: { dir: string; remove(): Promise<void> };
let work: string;

beforeEach(async () => {
  temp = await makeTempDir("ferry-e2e-package");
  work = temp.dir;
});
afterEach(async () => {
  await temp.remove();
});

/** Writes hello.c into `dir` and compiles it with gcc, as the seed does. */
async function buildHello(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(nodePath.join(dir, "hello.c"), HELLO_C);
  execFileSync("gcc", ["hello.c", "-o", "hello"], { cwd: dir, timeout: 60_000 });
}

function tar(args: string[], cwd: string): string {
  return execFileSync("tar", args, { cwd, encoding: "utf8", timeout: 60_000 });
}

describe("ferry package", () => {
  it(
    "packages the seed's gcc hello world into a tarball the system tar unpacks",
    TIMEOUT,
    async () => {
      await buildHello(work);
      const result = await runFerry(
        ["package", "hello", "--entry", "hello", "--name", "hello", "--release", "v0.0.1"],
        { cwd: work },
      );
      assert.equal(result.code, 0, result.stderr);
      const expected = `package/hello-v0.0.1-${HOST_OS}-${HOST_ARCH}.tar.gz`;
      assert.equal(result.stdout.trim(), expected);
      assert.match(result.stderr, /--entry is ignored: it belongs to "ferry mirror publish"/);
      assert.match(
        result.stderr,
        new RegExp(
          `ferry mirror publish hello v0\\.0\\.1 ${expected.replaceAll(".", "\\.")} hello`,
        ),
      );
      assert.deepEqual(await fs.readdir(nodePath.join(work, "package")), [
        nodePath.basename(expected),
      ]);

      assert.deepEqual(tar(["-tzf", expected], work).trim().split("\n"), ["hello"]);
      const unpacked = nodePath.join(work, "unpacked");
      await fs.mkdir(unpacked);
      tar(["-xzf", nodePath.join(work, expected), "-C", unpacked], work);
      const output = execFileSync(nodePath.join(unpacked, "hello"), {
        encoding: "utf8",
        timeout: 10_000,
      });
      assert.equal(output, "hello\n");
    },
  );

  it("packs targets relative to -C for another platform", TIMEOUT, async () => {
    const build = nodePath.join(work, "build");
    await buildHello(build);
    await fs.mkdir(nodePath.join(build, "conf"));
    await fs.writeFile(nodePath.join(build, "conf", "hello.toml"), "greeting = 'hello'\n");
    const result = await runFerry(
      [
        "package",
        "hello",
        "conf",
        "-C",
        "build",
        "--name",
        "hello",
        "--release",
        "v0.0.2",
        "--os",
        "linux",
        "--arch",
        "arm64",
      ],
      { cwd: work },
    );
    assert.equal(result.code, 0, result.stderr);
    const expected = "package/hello-v0.0.2-linux-arm64.tar.gz";
    assert.equal(result.stdout.trim(), expected);
    assert.deepEqual(tar(["-tzf", expected], work).trim().split("\n"), [
      "hello",
      "conf/",
      "conf/hello.toml",
    ]);
    assert.doesNotMatch(result.stderr, /ignored/);
  });

  it("replaces an earlier package atomically and never packs its own output", TIMEOUT, async () => {
    await buildHello(work);
    const args = [
      "package",
      ".",
      "--name",
      "hello",
      "--release",
      "v0.0.1",
      "--os",
      "any",
      "--arch",
      "any",
    ];
    const first = await runFerry(args, { cwd: work });
    assert.equal(first.code, 0, first.stderr);
    const second = await runFerry(args, { cwd: work });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /Replaced the earlier package\/hello-v0\.0\.1-any-any\.tar\.gz/);
    assert.deepEqual(await fs.readdir(nodePath.join(work, "package")), [
      "hello-v0.0.1-any-any.tar.gz",
    ]);
    const names = tar(["-tzf", "package/hello-v0.0.1-any-any.tar.gz"], work).trim().split("\n");
    assert.deepEqual(names, ["hello", "hello.c"]);
  });

  describe("bad input exits 2 and writes nothing", () => {
    const cases: [string, string[], RegExp][] = [
      ["no --name", ["package", "hello", "--release", "v0.0.1"], /needs --name/],
      ["no --release", ["package", "hello", "--name", "hello"], /needs --release/],
      ["no target", ["package", "--name", "hello", "--release", "v0.0.1"], /needs TARGET/],
      [
        "a name with a slash",
        ["package", "hello", "--name", "a/b", "--release", "v1"],
        /Cannot use --name "a\/b"/,
      ],
      [
        "a name with ..",
        ["package", "hello", "--name", "..", "--release", "v1"],
        /Cannot use --name "\.\."/,
      ],
      [
        "a release with whitespace",
        ["package", "hello", "--name", "hello", "--release", "v 1"],
        /Cannot use --release "v 1"/,
      ],
      [
        "an empty release",
        ["package", "hello", "--name", "hello", "--release", ""],
        /--release is empty/,
      ],
      [
        "a missing target",
        ["package", "nope", "--name", "hello", "--release", "v1"],
        /Cannot package "nope": no such file or directory/,
      ],
      [
        "an absolute target",
        ["package", "/etc/passwd", "--name", "hello", "--release", "v1"],
        /targets must be relative/,
      ],
      [
        "a target outside -C",
        ["package", "../x", "--name", "hello", "--release", "v1"],
        /must not leave the packing directory/,
      ],
      ["a missing -C directory", [
        "package",
        "hello",
        "-C",
        "nowhere",
        "--name",
        "hello",
        "--release",
        "v1",
      ], /Cannot change to -C "nowhere"/],
      ["an unknown platform", [
        "package",
        "hello",
        "--name",
        "hello",
        "--release",
        "v1",
        "--os",
        "windows",
      ], /Cannot use --os "windows": operating systems are linux, darwin, any/],
      [
        "an os/arch pair mirrors do not carry",
        [
          "package",
          "hello",
          "--name",
          "hello",
          "--release",
          "v1",
          "--os",
          "any",
          "--arch",
          "amd64",
        ],
        /Cannot package for "any\/amd64"/,
      ],
      [
        "an unknown flag",
        ["package", "hello", "--name", "hello", "--release", "v1", "--bogus"],
        /Unknown flag "--bogus"/,
      ],
    ];
    for (const [what, args, pattern] of cases) {
      it(`refuses ${what}`, TIMEOUT, async () => {
        await fs.writeFile(nodePath.join(work, "hello"), "#!/bin/sh\necho hello\n", {
          mode: 0o755,
        });
        const result = await runFerry(args, { cwd: work });
        assert.equal(result.code, 2, `${result.stdout}\n${result.stderr}`);
        assert.match(result.stderr, pattern);
        assert.equal(result.stdout, "");
        assert.deepEqual(await fs.readdir(work), ["hello"]);
      });
    }
  });
});
