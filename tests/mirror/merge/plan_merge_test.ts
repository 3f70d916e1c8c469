import assert from "node:assert/strict";
import { test } from "node:test";
import type { IndexManifest } from "../../../lib/format/manifest_types.ts";
import { planMerge } from "../../../lib/mirror/merge/plan_merge.ts";
import { component } from "../clone/_items.ts";

function index(components: Record<string, { yanked?: boolean; owner?: string }>): IndexManifest {
  return {
    _type: "index",
    components: Object.fromEntries(
      Object.entries(components).map(([id, c]) => [id, {
        hidden: false,
        owner: c.owner ?? "alice",
        standalone: false,
        url: `/${id}.json`,
        yanked: c.yanked ?? false,
      }]),
    ),
    default_components: [],
    expires: "2030-01-01T00:00:00Z",
    owners: {},
    spec_version: "0.1.0",
    version: 1,
  };
}

test("planMerge() adds what the base lacks and counts what it has", () => {
  const hello = component("hello", { "linux/amd64": ["v0.0.1", "v0.0.2"] });
  const plan = planMerge(
    {
      index: index({ hello: {} }),
      components: new Map([["hello", component("hello", { "linux/amd64": ["v0.0.1"] })]]),
    },
    { index: index({ hello: {} }), components: new Map([["hello", hello]]) },
  );
  assert.deepEqual(plan.additions.map((a) => `${a.component} ${a.version} ${a.platform}`), [
    "hello v0.0.2 linux/amd64",
  ]);
  assert.equal(plan.alreadyPresent, 1);
  assert.deepEqual(plan.conflicts, []);
});

test("planMerge() reports the same version with other content as a conflict, never an addition", () => {
  const base = component("hello", { "linux/amd64": ["v0.0.1"] });
  const other = component("hello", {
    "linux/amd64": [["v0.0.1", { hashes: { sha256: "f".repeat(64), sha512: "" } }]],
  });
  const plan = planMerge(
    { index: index({ hello: {} }), components: new Map([["hello", base]]) },
    { index: index({ hello: {} }), components: new Map([["hello", other]]) },
  );
  assert.equal(plan.additions.length, 0);
  assert.equal(plan.conflicts.length, 1);
  assert.equal(plan.conflicts[0]!.sourceSha256, "f".repeat(64));
});

test("planMerge() skips yanked components and versions, nightlies and odd platforms", () => {
  const source = component("tool", {
    "linux/amd64": ["v1.0.0", ["v1.1.0", { yanked: true }], "v1.2.0-nightly"],
    "linux/riscv64": ["v1.0.0"],
    "any/any": ["v1.0.0"],
  });
  const plan = planMerge(
    { index: index({ gone: { yanked: true } }), components: new Map() },
    {
      index: index({ tool: {}, gone: {}, old: { yanked: true } }),
      components: new Map([
        ["tool", source],
        ["gone", component("gone", { "linux/amd64": ["v1.0.0"] })],
        ["old", component("old", { "linux/amd64": ["v1.0.0"] })],
      ]),
    },
  );
  assert.deepEqual(plan.additions.map((a) => `${a.component} ${a.version} ${a.platform}`), [
    "tool v1.0.0 any/any",
    "tool v1.0.0 linux/amd64",
  ]);
  assert.ok(plan.notes.some((n) => /"gone": it is yanked/.test(n)));
  assert.ok(plan.notes.some((n) => /linux\/riscv64/.test(n)));
});
