import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import { ArchiveError } from "../../lib/archive/archive_error.ts";
import { installComponent } from "../../lib/client/install_component.ts";
import { openClientUpdater } from "../../lib/client/open_client_updater.ts";
import { UnknownComponentError } from "../../lib/client/unknown_component_error.ts";
import { YankedVersionError } from "../../lib/client/yanked_version_error.ts";
import { HashMismatchError, LengthMismatchError, UsageError } from "../../lib/errors.ts";
import type { MirrorSimulator, SimulatorKeys } from "../_simulator.ts";
import {
  clientKeys,
  componentTarball,
  helloMirror,
  LINUX_AMD64,
  now,
  tempHome,
  tree,
  trustMirror,
} from "./_client_mirror.ts";

describe("installComponent()", () => {
  let keys: SimulatorKeys;
  let home: string;
  before(async () => (keys = await clientKeys()));
  beforeEach(async () => (home = await tempHome()));
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));

  async function updaterFor(sim: MirrorSimulator) {
    await trustMirror(home, sim);
    const updater = await openClientUpdater(home, sim.storage, { now });
    await updater.refresh();
    return updater;
  }
  const install = async (sim: MirrorSimulator, name: string, version?: string) =>
    await installComponent(await updaterFor(sim), {
      home,
      name,
      platform: LINUX_AMD64,
      ...(version !== undefined ? { version } : {}),
    });
  const components = () => tree(nodePath.join(home, "components"));

  it("installs the latest stable version and its entry runs", async () => {
    const sim = await helloMirror(keys);
    const result = await install(sim, "hello");
    assert.equal(result.version, "v1.1.0");
    assert.equal(result.installed, true);
    assert.equal(result.dir, nodePath.join(home, "components", "hello", "v1.1.0"));
    assert.equal(result.entry, nodePath.join(result.dir, "hello"));
    assert.equal(execFileSync(result.entry, ["a", "b"], { encoding: "utf8" }), "hello a b\n");
    assert.deepEqual(await components(), ["hello/v1.1.0/hello"]);
  });

  it("installs an explicit version, and says so when it is already installed", async () => {
    const sim = await helloMirror(keys);
    assert.equal((await install(sim, "hello", "v1.0.0")).installed, true);
    const again = await install(sim, "hello", "v1.0.0");
    assert.equal(again.installed, false);
    assert.equal(again.entry, nodePath.join(home, "components", "hello", "v1.0.0", "hello"));
  });

  it("resolves nightly to the manifest's nightly pointer", async () => {
    const sim = await helloMirror(keys);
    await sim.publish("hello", "v1.2.0-nightly-20300101", { content: componentTarball("hello") });
    sim.components.get("hello")!.nightly = "v1.2.0-nightly-20300101";
    sim.components.get("hello")!.version++;
    await sim.writeComponent("hello");
    await sim.commit();
    assert.equal((await install(sim, "hello", "nightly")).version, "v1.2.0-nightly-20300101");
  });

  it("falls back to the any/any build when the host has none", async () => {
    const sim = await helloMirror(keys);
    await sim.publish("script", "v0.1.0", {
      platform: "any/any",
      content: componentTarball("script"),
    });
    const result = await install(sim, "script");
    assert.equal(result.platform, "any/any");
  });

  it("rejects a component with a hash mismatch and installs nothing", async () => {
    const sim = await helloMirror(keys);
    const good = await sim.file("hello-v1.1.0-linux-amd64.tar.gz");
    const evil = componentTarball("hello", [{ name: "x", data: "y".repeat(good.length) }])
      .slice(0, good.length);
    await sim.storage.write("hello-v1.1.0-linux-amd64.tar.gz", evil);
    await assert.rejects(install(sim, "hello"), HashMismatchError);
    assert.deepEqual(await components(), []);
  });

  it("rejects a tarball longer than its manifest says and installs nothing", async () => {
    const sim = await helloMirror(keys);
    const good = await sim.file("hello-v1.1.0-linux-amd64.tar.gz");
    await sim.storage.write("hello-v1.1.0-linux-amd64.tar.gz", new Uint8Array([...good, 0, 0]));
    await assert.rejects(install(sim, "hello"), LengthMismatchError);
    assert.deepEqual(await components(), []);
  });

  it("refuses a signed tarball with a ../ entry (path traversal) and leaves nothing", async () => {
    const sim = await helloMirror(keys);
    await sim.publish("evil", "v1.0.0", {
      content: componentTarball("evil", [{ name: "../../../escaped", data: "pwned" }]),
    });
    await assert.rejects(install(sim, "evil"), ArchiveError);
    assert.deepEqual(await components(), []);
    assert.deepEqual(await tree(home).then((files) => files.filter((f) => /escaped/.test(f))), []);
  });

  it("refuses a signed tarball with a symlink pointing outside the component directory", async () => {
    const sim = await helloMirror(keys);
    await sim.publish("evil", "v1.0.0", {
      content: componentTarball("evil", [{ name: "link", type: "2", linkname: "../../../etc" }]),
    });
    await assert.rejects(install(sim, "evil"), ArchiveError);
    assert.deepEqual(await components(), []);
  });

  it("refuses a tarball without the entry its manifest names, leaving nothing", async () => {
    const sim = await helloMirror(keys);
    await sim.publish("noentry", "v1.0.0", { content: componentTarball("something-else") });
    await assert.rejects(
      install(sim, "noentry"),
      (error: Error) => error instanceof ArchiveError && /no file "noentry"/.test(error.message),
    );
    assert.deepEqual(await components(), []);
  });

  it("refuses a yanked version, and a yanked component as unknown", async () => {
    const sim = await helloMirror(keys);
    const manifest = sim.components.get("hello")!;
    manifest.platforms["linux/amd64"]!["v1.1.0"]!.yanked = true;
    manifest.version++;
    await sim.writeComponent("hello");
    await sim.commit();
    assert.equal((await install(sim, "hello")).version, "v1.0.0", "latest skips yanked");
    await assert.rejects(
      install(sim, "hello", "v1.1.0"),
      (error: Error) => error instanceof UsageError && /yanked/.test(error.message),
    );
    sim.index.components.hello!.yanked = true;
    sim.index.version++;
    await sim.writeIndex();
    await sim.commit();
    await assert.rejects(install(sim, "hello", "v1.0.0"), UnknownComponentError);
  });

  it("says a version a clone did not copy is not carried, not withdrawn by its publisher", async () => {
    const sim = await helloMirror(keys);
    const manifest = sim.components.get("hello")!;
    // A publisher's yank keeps the tarball; a clone's uncopied version has none.
    manifest.platforms["linux/amd64"]!["v1.1.0"]!.yanked = true;
    manifest.platforms["linux/amd64"]!["v1.0.0"]!.yanked = true;
    manifest.version++;
    await sim.writeComponent("hello");
    await sim.commit();
    await sim.storage.delete("hello-v1.0.0-linux-amd64.tar.gz");
    await assert.rejects(
      install(sim, "hello", "v1.0.0"),
      (error: Error) =>
        error instanceof YankedVersionError && !error.carried &&
        /this mirror does not carry it/.test(error.message) &&
        !/withdrawn by its publisher/.test(error.message),
    );
    await assert.rejects(
      install(sim, "hello", "v1.1.0"),
      (error: Error) =>
        error instanceof YankedVersionError && error.carried &&
        /withdrawn by its publisher/.test(error.message),
    );
    assert.deepEqual(await components(), []);
  });

  it("refuses an unknown component and an unknown version with what exists", async () => {
    const sim = await helloMirror(keys);
    await assert.rejects(install(sim, "nope"), UnknownComponentError);
    await assert.rejects(
      install(sim, "hello", "v9.9.9"),
      (error: Error) => error instanceof UsageError && /v1\.0\.0, v1\.1\.0/.test(error.message),
    );
  });
});
