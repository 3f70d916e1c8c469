import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { listInstalled } from "../../lib/client/list_installed.ts";
import { uninstallComponent } from "../../lib/client/uninstall_component.ts";
import { NotFoundError, UsageError } from "../../lib/errors.ts";

let home: string;

beforeEach(async () => {
  home = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-uninstall-test-"));
  for (const version of ["v1", "v2"]) {
    const dir = nodePath.join(home, "components", "hello", version);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(nodePath.join(dir, "hello"), "bin");
  }
  await fs.mkdir(nodePath.join(home, "components", "other", "v1"), { recursive: true });
});
afterEach(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

describe("uninstallComponent()", () => {
  it("removes one version and keeps the others", async () => {
    assert.deepEqual(await uninstallComponent(home, "hello", { version: "v1" }), ["v1"]);
    assert.deepEqual(await listInstalled(home), [
      { name: "hello", versions: ["v2"] },
      { name: "other", versions: ["v1"] },
    ]);
    assert.deepEqual(await fs.readdir(nodePath.join(home, "components", "hello")), ["v2"]);
  });

  it("removes the component directory with its last version", async () => {
    await uninstallComponent(home, "other", { version: "v1" });
    assert.deepEqual((await fs.readdir(nodePath.join(home, "components"))).sort(), ["hello"]);
  });

  it("removes every version when no version is given", async () => {
    assert.deepEqual(await uninstallComponent(home, "hello"), ["v1", "v2"]);
    assert.deepEqual(await fs.readdir(nodePath.join(home, "components")), ["other"]);
  });

  it("throws NotFoundError for what is not installed", async () => {
    await assert.rejects(uninstallComponent(home, "hello", { version: "v9" }), NotFoundError);
    await assert.rejects(uninstallComponent(home, "missing"), NotFoundError);
  });

  it("refuses path tricks in the name or version before touching anything", async () => {
    await fs.writeFile(nodePath.join(home, "precious"), "keep");
    await assert.rejects(uninstallComponent(home, ".."), UsageError);
    await assert.rejects(uninstallComponent(home, "hello", { version: "../.." }), UsageError);
    await assert.rejects(uninstallComponent(home, "hello/v1"), UsageError);
    assert.equal(await fs.readFile(nodePath.join(home, "precious"), "utf8"), "keep");
    assert.equal((await listInstalled(home)).length, 2);
  });

  it("removes a planted symlink as a link, never what it points at", async () => {
    const outside = nodePath.join(home, "outside");
    await fs.mkdir(outside);
    await fs.writeFile(nodePath.join(outside, "precious"), "keep");
    await fs.symlink(outside, nodePath.join(home, "components", "linked"));
    await uninstallComponent(home, "linked");
    assert.equal(await fs.readFile(nodePath.join(outside, "precious"), "utf8"), "keep");
    await assert.rejects(fs.lstat(nodePath.join(home, "components", "linked")));
  });
});
