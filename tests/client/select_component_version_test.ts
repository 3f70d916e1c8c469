import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { selectComponentVersion } from "../../lib/client/select_component_version.ts";
import { UsageError } from "../../lib/errors.ts";
import { item, manifest } from "./_manifest.ts";

const linux = { os: "linux", arch: "amd64" };

describe("selectComponentVersion()", () => {
  const tool = manifest({
    "linux/amd64": {
      "v1.0.0": item(),
      "v1.10.0": item(),
      "v1.9.0": item(),
      "v2.0.0-rc.1": item(),
      "v2.0.0": item({ yanked: true }),
      "v3.0.0": item({ entry: "" }),
      "v1.11.0-nightly-20300101": item(),
    },
    "any/any": { "v0.5.0": item({ url: "/any.tar.gz" }) },
    "darwin/arm64": { "v4.0.0": item() },
  }, "v1.11.0-nightly-20300101");

  const cases: [string, string | undefined, string][] = [
    ["latest stable is the highest semver, not by string order", undefined, "v1.10.0"],
    ["an explicit version as named", "v1.9.0", "v1.9.0"],
    ["a prerelease when named", "v2.0.0-rc.1", "v2.0.0-rc.1"],
    ["nightly resolves to the nightly pointer", "nightly", "v1.11.0-nightly-20300101"],
    ["an any/any version when the host has none of that version", "v0.5.0", "v0.5.0"],
  ];
  for (const [what, version, expected] of cases) {
    it(`picks ${what}`, () => {
      const selected = selectComponentVersion(tool, {
        platform: linux,
        ...(version !== undefined ? { version } : {}),
      });
      assert.equal(selected.version, expected);
    });
  }

  it("prefers a release over a higher prerelease for latest", () => {
    const m = manifest({ "linux/amd64": { "v1.0.0": item(), "v2.0.0-rc.1": item() } });
    assert.equal(selectComponentVersion(m, { platform: linux }).version, "v1.0.0");
  });

  it("falls back to any/any for latest when the host has no build", () => {
    const selected = selectComponentVersion(tool, { platform: { os: "linux", arch: "arm64" } });
    assert.equal(selected.platform, "any/any");
    assert.equal(selected.version, "v0.5.0");
  });

  const refusals: [string, string | undefined, RegExp][] = [
    ["a yanked version", "v2.0.0", /yanked/],
    ["a version whose entry is empty (it does not exist)", "v3.0.0", /no version "v3\.0\.0"/],
    [
      "a version built only for another platform",
      "v4.0.0",
      /no build for linux\/amd64.*darwin\/arm64/,
    ],
    ["an unknown version, listing the latest ones", "v9.0.0", /latest: .*v1\.10\.0/],
  ];
  for (const [what, version, message] of refusals) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => selectComponentVersion(tool, { platform: linux, ...(version ? { version } : {}) }),
        (error: Error) => error instanceof UsageError && message.test(error.message),
      );
    });
  }

  it("refuses nightly when the component has none", () => {
    const m = manifest({ "linux/amd64": { "v1.0.0": item() } });
    assert.throws(
      () => selectComponentVersion(m, { platform: linux, version: "nightly" }),
      /no nightly/,
    );
  });
});
