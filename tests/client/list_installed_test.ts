import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { listInstalled } from "../../lib/client/list_installed.ts";

let home: string;

beforeEach(async () => {
  home = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-list-test-"));
});
afterEach(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

async function install(name: string, version: string): Promise<void> {
  await fs.mkdir(nodePath.join(home, "components", name, version), { recursive: true });
}

describe("listInstalled()", () => {
  it("gives [] for a profile with no components directory", async () => {
    assert.deepEqual(await listInstalled(nodePath.join(home, "missing")), []);
  });

  it("lists components by name and versions in semver order, non-semver last", async () => {
    for (const version of ["v0.10.0", "v0.9.1", "nightly", "v0.9.1-beta", "v1.0.0"]) {
      await install("hello", version);
    }
    await install("alpha", "v1");
    assert.deepEqual(await listInstalled(home), [
      { name: "alpha", versions: ["v1"] },
      { name: "hello", versions: ["v0.9.1-beta", "v0.9.1", "v0.10.0", "v1.0.0", "nightly"] },
    ]);
  });

  it("skips hidden temporaries, files and empty components", async () => {
    await install("hello", "v1");
    await install("hello", ".ferry-extract-abc");
    await install(".ferry-trash-xyz", "v1");
    await fs.mkdir(nodePath.join(home, "components", "empty"));
    await fs.writeFile(nodePath.join(home, "components", "hello", "stray-file"), "");
    assert.deepEqual(await listInstalled(home), [{ name: "hello", versions: ["v1"] }]);
  });
});
