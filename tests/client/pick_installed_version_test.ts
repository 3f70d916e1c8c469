import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareVersions } from "../../lib/client/compare_versions.ts";
import { pickInstalledVersion } from "../../lib/client/pick_installed_version.ts";
import { LINUX_AMD64 } from "./_client_mirror.ts";
import { item, manifest } from "./_manifest.ts";

describe("pickInstalledVersion()", () => {
  it("picks the newest installed stable version over a newer nightly", () => {
    assert.equal(pickInstalledVersion(["v1.0.0", "v1.1.0", "v2.0.0-nightly"]), "v1.1.0");
  });
  it("picks a nightly when only nightlies are installed", () => {
    assert.equal(pickInstalledVersion(["v2.0.0-nightly"]), "v2.0.0-nightly");
  });
  it("skips versions the manifest marks yanked", () => {
    const m = manifest({ "linux/amd64": { "v1.1.0": item({ yanked: true }), "v1.0.0": item() } });
    const options = { manifest: m, platform: LINUX_AMD64 };
    assert.equal(pickInstalledVersion(["v1.0.0", "v1.1.0"], options), "v1.0.0");
  });
  it("passes over a version installed from another mirror (fault: has no version v1.1.0)", () => {
    const m = manifest({ "linux/amd64": { "v0.0.1": item() } });
    const options = { manifest: m, platform: LINUX_AMD64 };
    assert.equal(pickInstalledVersion(["v0.0.1", "v1.1.0"], options), "v0.0.1");
    assert.equal(pickInstalledVersion(["v1.1.0"], options), undefined);
  });
  it("counts any/any builds and not other platforms' builds", () => {
    const m = manifest({ "any/any": { "v1.0.0": item() }, "darwin/arm64": { "v2.0.0": item() } });
    const options = { manifest: m, platform: LINUX_AMD64 };
    assert.equal(pickInstalledVersion(["v1.0.0", "v2.0.0"], options), "v1.0.0");
  });
  it("does not count an item without an entry (TiUP: it does not exist)", () => {
    const m = manifest({ "linux/amd64": { "v1.0.0": item(), "v1.1.0": item({ entry: "" }) } });
    const options = { manifest: m, platform: LINUX_AMD64 };
    assert.equal(pickInstalledVersion(["v1.0.0", "v1.1.0"], options), "v1.0.0");
  });
  it("gives undefined when nothing is installed", () => {
    assert.equal(pickInstalledVersion([]), undefined);
  });
});

describe("compareVersions()", () => {
  it("orders semver numerically, then other names", () => {
    assert.deepEqual(
      ["nightly", "v1.10.0", "v1.2.0", "v1.2.0-rc.1", "master"].sort(compareVersions),
      ["v1.2.0-rc.1", "v1.2.0", "v1.10.0", "master", "nightly"],
    );
  });
});
