import assert from "node:assert/strict";
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
  it("defaults to this process's platform", () => {
    assert.deepEqual(hostPlatform(), hostPlatform(process.platform, process.arch));
  });
});
