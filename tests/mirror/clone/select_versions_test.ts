import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "../../../lib/errors.ts";
import { selectVersions, type VersionRequest } from "../../../lib/mirror/clone/select_versions.ts";
import { component } from "./_items.ts";

const tidb = component("tidb", {
  "linux/amd64": [
    "v4.0.0",
    "v4.0.1",
    "v5.0.0-rc",
    "v5.0.0",
    ["v3.0.0", { yanked: true }],
    "v5.1.0-nightly-20260101",
  ],
  "linux/arm64": ["v4.0.0", "v5.0.0"],
  "darwin/amd64": ["v4.0.1"],
}, { nightly: "v5.1.0-nightly-20260101" });

const ALL = ["linux/amd64", "linux/arm64", "darwin/amd64", "any/any"];

function chosen(request: VersionRequest, platforms = ALL): Record<string, string[]> {
  const { platforms: selected } = selectVersions(tidb, platforms, request);
  return Object.fromEntries([...selected].map(([p, v]) => [p, [...v].sort()]));
}

describe("selectVersions()", () => {
  const cases: Array<[string, VersionRequest, Record<string, string[]>]> = [
    ["selects nothing when nothing is asked (metadata only)", {}, {}],
    ["--full takes every version that is not yanked", { full: true }, {
      "linux/amd64": ["v4.0.0", "v4.0.1", "v5.0.0", "v5.0.0-rc", "v5.1.0-nightly-20260101"],
      "linux/arm64": ["v4.0.0", "v5.0.0"],
      "darwin/amd64": ["v4.0.1"],
    }],
    ["--tidb all takes every usable version (broken in TiUP since PR #2309)", {
      component: ["all"],
    }, {
      "linux/amd64": ["v4.0.0", "v4.0.1", "v5.0.0", "v5.0.0-rc", "v5.1.0-nightly-20260101"],
      "linux/arm64": ["v4.0.0", "v5.0.0"],
      "darwin/amd64": ["v4.0.1"],
    }],
    ["--tidb latest takes each platform's latest stable", { component: ["latest"] }, {
      "linux/amd64": ["v5.0.0"],
      "linux/arm64": ["v5.0.0"],
      "darwin/amd64": ["v4.0.1"],
    }],
    ["--tidb nightly resolves the nightly pointer", { component: ["nightly"] }, {
      "linux/amd64": ["v5.1.0-nightly-20260101"],
    }],
    ["--tidb v4 --prefix matches by prefix (broken in TiUP)", {
      component: ["v4"],
      prefix: true,
    }, {
      "linux/amd64": ["v4.0.0", "v4.0.1"],
      "linux/arm64": ["v4.0.0"],
      "darwin/amd64": ["v4.0.1"],
    }],
    ["a version without its v is found", { component: ["4.0.1"] }, {
      "linux/amd64": ["v4.0.1"],
      "darwin/amd64": ["v4.0.1"],
    }],
    ["a global version falls back to the platform's latest where missing", {
      global: ["v4.0.0"],
    }, {
      "linux/amd64": ["v4.0.0"],
      "linux/arm64": ["v4.0.0"],
      "darwin/amd64": ["v4.0.1"],
    }],
    ["a component flag wins over global versions", { component: ["v5.0.0"], global: ["v4.0.0"] }, {
      "linux/amd64": ["v5.0.0"],
      "linux/arm64": ["v5.0.0"],
    }],
  ];
  for (const [name, request, expected] of cases) {
    test(`selectVersions() ${name}`, () => assert.deepEqual(chosen(request), expected));
  }

  test("selectVersions() never selects a yanked version, even by name", () => {
    assert.throws(() => chosen({ component: ["v3.0.0"] }), UsageError);
  });

  test("selectVersions() refuses a component version that exists on no selected platform", () => {
    assert.throws(
      () => chosen({ component: ["v9.9.9"] }),
      (error: Error) => error instanceof UsageError && /"v9\.9\.9" of "tidb"/.test(error.message),
    );
  });

  test("selectVersions() considers only the selected platforms", () => {
    assert.deepEqual(chosen({ component: ["all"] }, ["darwin/amd64"]), {
      "darwin/amd64": ["v4.0.1"],
    });
  });

  test("selectVersions() notes each global-version substitution", () => {
    const { notes } = selectVersions(tidb, ALL, { global: ["v4.0.0"] });
    assert.deepEqual(notes, ["tidb v4.0.0 is not on darwin/amd64: using v4.0.1 instead"]);
  });
});

describe("selectVersions() and a version that is only a prefix (seed 000's --tikv v4)", () => {
  test("selectVersions() says that --prefix matches by prefix when the version is not found", () => {
    assert.throws(
      () => chosen({ component: ["v4"] }),
      (error: Error) =>
        error instanceof UsageError &&
        /Cannot find version "v4" of "tidb".*2 version\(s\) start with "v4" \(v4\.0\.0, v4\.0\.1\): add --prefix, which matches versions by prefix/
          .test(error.message),
    );
  });

  test("selectVersions() gives the prefix hint in a global version's substitution note", () => {
    const { notes } = selectVersions(tidb, ["darwin/amd64"], { global: ["v4"] });
    assert.deepEqual(notes, [
      'tidb v4 is not on darwin/amd64: using v4.0.1 instead; 1 version(s) start with "v4" (v4.0.1): add --prefix, which matches versions by prefix',
    ]);
  });

  test("selectVersions() gives no prefix hint when nothing starts with the version", () => {
    assert.throws(
      () => chosen({ component: ["v9"] }),
      (error: Error) => error instanceof UsageError && !/--prefix/.test(error.message),
    );
  });
});
