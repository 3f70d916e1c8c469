import assert from "node:assert/strict";
import { test } from "node:test";
import { latestStable } from "../../lib/format/latest_stable.ts";
import { component } from "../mirror/clone/_items.ts";

function latest(versions: Array<string | [string, { yanked?: boolean; entry?: string }]>) {
  return latestStable(component("x", { "linux/amd64": versions }).platforms["linux/amd64"]!);
}

test("latestStable() picks the highest semver, not the last listed", () => {
  assert.equal(latest(["v1.10.0", "v1.9.0", "v1.2.0"]), "v1.10.0");
});

test("latestStable() prefers a release to a higher prerelease", () => {
  assert.equal(latest(["v1.0.0", "v2.0.0-rc.1"]), "v1.0.0");
});

test("latestStable() takes a prerelease when there is nothing else", () => {
  assert.equal(latest(["v2.0.0-rc.1", "v2.0.0-rc.2"]), "v2.0.0-rc.2");
});

test("latestStable() skips yanked, entry-less, nightly and non-semver versions", () => {
  assert.equal(
    latest([
      "v1.0.0",
      ["v3.0.0", { yanked: true }],
      ["v4.0.0", { entry: "" }],
      "v5.0.0-nightly",
      "master",
    ]),
    "v1.0.0",
  );
});

test("latestStable() is undefined when nothing qualifies", () => {
  assert.equal(latest(["nightly", ["v1.0.0", { yanked: true }]]), undefined);
});
