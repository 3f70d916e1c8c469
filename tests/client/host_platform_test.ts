import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { hostPlatform } from "../../lib/client/host_platform.ts";
import { UsageError } from "../../lib/errors.ts";

describe("hostPlatform()", () => {
  const table: [string, string, string, string][] = [
    ["linux", "x64", "linux", "amd64"],
    ["linux", "arm64", "linux", "arm64"],
    ["darwin", "x64", "darwin", "amd64"],
    ["darwin", "arm64", "darwin", "arm64"],
  ];
  for (const [platform, arch, os, goArch] of table) {
    it(`maps ${platform}/${arch} to ${os}/${goArch}`, () => {
      assert.deepEqual(hostPlatform(platform, arch), { os, arch: goArch });
    });
  }
  it("refuses an unknown host with a hint to pass --os/--arch", () => {
    assert.throws(() => hostPlatform("win32", "x64"), UsageError);
    assert.throws(() => hostPlatform("linux", "ia32"), /pass --os linux\|darwin and --arch/);
  });
  it("defaults to the machine it runs on, as uname(1) names it in Go's spelling", () => {
    // Independent of node's process.platform/arch: the kernel's own names for this machine.
    const uname = (flag: string) => execFileSync("uname", [flag], { encoding: "utf8" }).trim();
    const os = ({ Linux: "linux", Darwin: "darwin" } as Record<string, string>)[uname("-s")];
    const arch = ({ x86_64: "amd64", amd64: "amd64", aarch64: "arm64", arm64: "arm64" } as Record<
      string,
      string
    >)[uname("-m")];
    assert.ok(os && arch, `this test runs on linux or darwin, amd64 or arm64`);
    assert.deepEqual(hostPlatform(), { os, arch });
  });
});
