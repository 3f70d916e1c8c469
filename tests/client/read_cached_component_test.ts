import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { readCachedComponent } from "../../lib/client/read_cached_component.ts";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { tempHome } from "./_client_mirror.ts";
import { item, manifest } from "./_manifest.ts";

describe("readCachedComponent()", () => {
  let home: string;
  beforeEach(async () => (home = await tempHome()));
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));
  const cache = async (text: string) => {
    await fs.mkdir(nodePath.join(home, "manifests"), { recursive: true });
    await fs.writeFile(nodePath.join(home, "manifests", "tool.json"), text);
  };

  it("reads the cached manifest of the current mirror", async () => {
    const signed = manifest({ "linux/amd64": { "v1.0.0": item() } });
    await cache(canonicalJson({ signatures: [], signed }));
    assert.deepEqual(await readCachedComponent(home, "tool"), signed);
  });

  it("gives undefined for a missing or damaged cache", async () => {
    assert.equal(await readCachedComponent(home, "tool"), undefined);
    await cache("{not json");
    assert.equal(await readCachedComponent(home, "tool"), undefined);
  });
});
