import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareVersions } from "../../lib/client/compare_versions.ts";
import { pickInstalledVersion } from "../../lib/client/pick_installed_version.ts";
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
    assert.equal(pickInstalledVersion(["v1.0.0", "v1.1.0"], m), "v1.0.0");
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
