/**
 * What the publish-API suites start from: in `dir`, a mirror (`mirror/`) made with `ferry mirror
 * init`, a publisher key (`ferry mirror genkey`, in the profile `home/`) granted as owner "jdoe",
 * and a one-file tarball (`hello.tar.gz`, entry `hello`). Returns the environment the suite runs
 * ferry with (that profile, no mirror from the caller's) and a `ferry` that asserts success.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { type FerryResult, runFerry } from "./_cli.ts";

/** The set-up a publishing suite runs against. */
export interface PublishingMirror {
  env: Record<string, string | undefined>;
  mirror: string;
  tarball: string;
  /** Runs ferry in `dir` with `env`, asserting it exits `expectCode` (default 0). */
  ferry(args: string[], expectCode?: number): Promise<FerryResult>;
  /** `ferry mirror publish` of the tarball as hello VERSION for linux/amd64 to `mirrorUrl`. */
  publishArgs(version: string, mirrorUrl: string): string[];
}

export async function makePublishingMirror(dir: string): Promise<PublishingMirror> {
  const env = {
    FERRY_HOME: nodePath.join(dir, "home"),
    TIUP_HOME: undefined,
    FERRY_MIRROR: undefined,
    TIUP_MIRRORS: undefined,
  };
  const ferry = async (args: string[], expectCode = 0) => {
    const result = await runFerry(args, { cwd: dir, env, timeoutMs: 120_000 });
    assert.equal(
      result.code,
      expectCode,
      `ferry ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\n` +
        `stderr: ${result.stderr}`,
    );
    return result;
  };
  const mirror = nodePath.join(dir, "mirror");
  await ferry(["mirror", "init", mirror]);
  await ferry(["mirror", "genkey"]);
  await ferry(["mirror", "grant", "jdoe", "--mirror", mirror]);
  await fs.mkdir(nodePath.join(dir, "pkg"));
  await fs.writeFile(nodePath.join(dir, "pkg", "hello"), "#!/bin/sh\necho hello\n", {
    mode: 0o755,
  });
  const tarball = nodePath.join(dir, "hello.tar.gz");
  execFileSync("tar", ["-czf", tarball, "-C", nodePath.join(dir, "pkg"), "hello"]);
  const publishArgs = (version: string, mirrorUrl: string) => [
    "mirror",
    "publish",
    "hello",
    version,
    tarball,
    "hello",
    "--os",
    "linux",
    "--arch",
    "amd64",
    "--mirror",
    mirrorUrl,
  ];
  return { env, mirror, tarball, ferry, publishArgs };
}
