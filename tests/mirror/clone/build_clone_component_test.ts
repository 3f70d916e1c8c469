import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildCloneComponent } from "../../../lib/mirror/clone/build_clone_component.ts";
import { component, item } from "./_items.ts";

const EXPIRES = "2076-01-01T00:00:00Z";
const upstream = component("tidb", {
  "linux/amd64": ["v1.0.0", "v1.1.0", ["v0.9.0", { yanked: true }], "v1.2.0-nightly"],
  "darwin/amd64": ["v1.0.0"],
}, { nightly: "v1.2.0-nightly", version: 7 });

function carried(entries: Record<string, string[]>) {
  return new Map(Object.entries(entries).map(([p, v]) => [p, new Set(v)]));
}

describe("buildCloneComponent()", () => {
  test("buildCloneComponent() lists every upstream version of a carried platform, unselected ones yanked", () => {
    const { signed, changed } = buildCloneComponent("tidb", {
      upstream,
      previous: undefined,
      carried: carried({ "linux/amd64": ["v1.1.0"] }),
      expires: EXPIRES,
    });
    assert.equal(changed, true);
    assert.deepEqual(Object.keys(signed.platforms), ["linux/amd64"], "darwin was not carried");
    const yanked = Object.fromEntries(
      Object.entries(signed.platforms["linux/amd64"]!).map(([v, i]) => [v, i.yanked]),
    );
    assert.deepEqual(yanked, {
      "v0.9.0": true,
      "v1.0.0": true,
      "v1.1.0": false,
      "v1.2.0-nightly": true,
    });
    assert.equal(signed.nightly, "", "the nightly pointer goes only with the nightly");
    assert.equal(signed.version, 7, "a first clone keeps the source's version, as TiUP's does");
    assert.equal(signed.expires, EXPIRES);
  });

  test("buildCloneComponent() keeps the nightly pointer when the nightly is carried (TiUP #2522)", () => {
    const { signed } = buildCloneComponent("tidb", {
      upstream,
      previous: undefined,
      carried: carried({ "linux/amd64": ["v1.2.0-nightly"] }),
      expires: EXPIRES,
    });
    assert.equal(signed.nightly, "v1.2.0-nightly");
  });

  test("buildCloneComponent() writes nothing when a refresh changes nothing", () => {
    const first = buildCloneComponent("tidb", {
      upstream,
      previous: undefined,
      carried: carried({ "linux/amd64": ["v1.1.0"] }),
      expires: EXPIRES,
    });
    const again = buildCloneComponent("tidb", {
      upstream,
      previous: first.signed,
      carried: carried({ "linux/amd64": ["v1.1.0"] }),
      expires: "2077-06-01T00:00:00Z",
    });
    assert.equal(again.changed, false);
    assert.equal(again.signed, first.signed);
  });

  test("buildCloneComponent() bumps past the previous version even when the source did not", () => {
    const first = buildCloneComponent("tidb", {
      upstream,
      previous: undefined,
      carried: carried({ "linux/amd64": ["v1.1.0"] }),
      expires: EXPIRES,
    });
    const more = buildCloneComponent("tidb", {
      upstream,
      previous: first.signed,
      carried: carried({ "linux/amd64": ["v1.1.0", "v1.0.0"] }),
      expires: EXPIRES,
    });
    assert.equal(more.changed, true);
    assert.equal(more.signed.version, 8, "previous 7 + 1: a client never keeps a stale copy");
    const republished = component("tidb", { "linux/amd64": ["v1.0.0", "v1.1.0", "v1.3.0"] }, {
      version: 20,
    });
    const newer = buildCloneComponent("tidb", {
      upstream: republished,
      previous: more.signed,
      carried: carried({ "linux/amd64": ["v1.1.0", "v1.0.0", "v1.3.0"] }),
      expires: EXPIRES,
    });
    assert.equal(newer.signed.version, 20, "the source's higher version is kept");
    const unchanged = buildCloneComponent("tidb", {
      upstream: { ...republished, version: 21 },
      previous: newer.signed,
      carried: carried({ "linux/amd64": ["v1.1.0", "v1.0.0", "v1.3.0"] }),
      expires: EXPIRES,
    });
    assert.equal(unchanged.changed, false, "a new source version with the same content: no write");
  });

  test("buildCloneComponent() keeps versions the source dropped while their files stay", () => {
    const previous = component("tidb", { "linux/amd64": ["v0.5.0", "v1.1.0", "v0.4.0"] }, {
      version: 7,
    });
    const { signed } = buildCloneComponent("tidb", {
      upstream,
      previous,
      carried: carried({ "linux/amd64": ["v1.1.0"] }),
      kept: carried({ "linux/amd64": ["v0.5.0"] }),
      expires: EXPIRES,
    });
    const versions = signed.platforms["linux/amd64"]!;
    assert.equal(versions["v0.5.0"]!.yanked, false, "still in place");
    assert.equal(versions["v0.4.0"]!.yanked, true, "its file is gone");
    assert.equal(versions["v1.1.0"]!.yanked, false);
  });

  test("buildCloneComponent() emits exactly Go's field set for items", () => {
    const legacy = component("tidb", { "linux/amd64": ["v1.0.0"] });
    (legacy.platforms["linux/amd64"]!["v1.0.0"] as unknown as Record<string, unknown>).threshold =
      1;
    const { signed } = buildCloneComponent("tidb", {
      upstream: legacy,
      previous: undefined,
      carried: carried({ "linux/amd64": ["v1.0.0"] }),
      expires: EXPIRES,
    });
    assert.deepEqual(
      Object.keys(signed.platforms["linux/amd64"]!["v1.0.0"]!).sort(),
      ["dependencies", "entry", "hashes", "length", "released", "url", "yanked"],
    );
  });

  test("buildCloneComponent() adds extra items (ferry itself) over the source's", () => {
    const own = item("ferry", "v0.1.0", "linux/amd64", { released: "2026-05-05T00:00:00Z" });
    const { signed } = buildCloneComponent("ferry", {
      upstream: undefined,
      previous: undefined,
      carried: new Map(),
      extra: { "linux/amd64": { "v0.1.0": own } },
      expires: EXPIRES,
    });
    assert.deepEqual(signed.platforms["linux/amd64"]!["v0.1.0"], own);
    assert.equal(signed.version, 1);
  });
});
