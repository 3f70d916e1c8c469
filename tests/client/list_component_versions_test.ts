import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { listComponentVersions } from "../../lib/client/list_component_versions.ts";
import { item, manifest } from "./_manifest.ts";

const linux = { os: "linux", arch: "amd64" };
const tool = manifest({
  "linux/amd64": {
    "v1.10.0": item(),
    "v1.9.0": item(),
    "v1.8.0": item({ yanked: true }),
    "v1.11.0-nightly": item(),
  },
  "darwin/arm64": { "v1.10.0": item(), "v2.0.0": item() },
  "any/any": { "v0.1.0": item() },
}, "v1.11.0-nightly");

describe("listComponentVersions()", () => {
  it("lists this platform's and any/any versions oldest first, without yanked ones", () => {
    const rows = listComponentVersions(tool, { platform: linux, installed: ["v1.9.0"] });
    assert.deepEqual(rows.map((r) => r.version), [
      "v0.1.0",
      "v1.9.0",
      "v1.10.0",
      "v1.11.0-nightly",
    ]);
    assert.deepEqual(rows.filter((r) => r.installed).map((r) => r.version), ["v1.9.0"]);
    assert.deepEqual(rows.filter((r) => r.nightly).map((r) => r.version), ["v1.11.0-nightly"]);
    assert.deepEqual(rows.find((r) => r.version === "v1.10.0")?.platforms, [
      "darwin/arm64",
      "linux/amd64",
    ]);
  });

  it("with all, adds yanked versions and other platforms' versions, marked", () => {
    const rows = listComponentVersions(tool, { platform: linux, all: true });
    assert.deepEqual(rows.map((r) => r.version), [
      "v0.1.0",
      "v1.8.0",
      "v1.9.0",
      "v1.10.0",
      "v1.11.0-nightly",
      "v2.0.0",
    ]);
    assert.equal(rows.find((r) => r.version === "v1.8.0")?.yanked, true);
    assert.equal(rows.find((r) => r.version === "v2.0.0")?.forHost, false);
  });

  it("leaves out items with an empty entry (they do not exist)", () => {
    const m = manifest({ "linux/amd64": { "v1.0.0": item({ entry: "" }) } });
    assert.deepEqual(listComponentVersions(m, { platform: linux, all: true }), []);
  });
});
