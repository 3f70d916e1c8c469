import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import { findInstalledEntry } from "../../lib/client/find_installed_entry.ts";
import { installComponent } from "../../lib/client/install_component.ts";
import { listMirrorComponents } from "../../lib/client/list_mirror_components.ts";
import { openClientUpdater } from "../../lib/client/open_client_updater.ts";
import type { SimulatorKeys } from "../_simulator.ts";
import {
  clientKeys,
  componentTarball,
  helloMirror,
  LINUX_AMD64,
  now,
  tempHome,
  trustMirror,
} from "./_client_mirror.ts";

describe("listMirrorComponents() and findInstalledEntry()", () => {
  let keys: SimulatorKeys;
  let home: string;
  before(async () => (keys = await clientKeys()));
  beforeEach(async () => (home = await tempHome()));
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));

  async function mirror() {
    const sim = await helloMirror(keys);
    await sim.publish("secret", "v1.0.0", { content: componentTarball("secret") });
    await sim.publish("gone", "v1.0.0", { content: componentTarball("gone") });
    sim.index.components.secret!.hidden = true;
    sim.index.components.gone!.yanked = true;
    sim.index.version++;
    await sim.writeIndex();
    await sim.commit();
    await trustMirror(home, sim);
    const updater = await openClientUpdater(home, sim.storage, { now });
    await updater.refresh();
    return updater;
  }

  it("lists visible components with owner, description and installed versions", async () => {
    const updater = await mirror();
    const rows = await listMirrorComponents(updater, {
      installed: [{ name: "hello", versions: ["v1.0.0"] }],
    });
    assert.deepEqual(rows, [{
      name: "hello",
      owner: "pingcap",
      description: "The hello component",
      hidden: false,
      installed: ["v1.0.0"],
    }]);
  });

  it("adds hidden components with all, but never yanked ones", async () => {
    const updater = await mirror();
    const rows = await listMirrorComponents(updater, { all: true });
    assert.deepEqual(rows.map((r) => [r.name, r.hidden]), [["hello", false], ["secret", true]]);
  });

  it("finds an installed entry offline from the cached manifest, else <dir>/<name>", async () => {
    const updater = await mirror();
    await installComponent(updater, {
      home,
      name: "hello",
      version: "v1.0.0",
      platform: LINUX_AMD64,
    });
    const dir = nodePath.join(home, "components", "hello", "v1.0.0");
    assert.equal(await findInstalledEntry(home, "hello", "v1.0.0", LINUX_AMD64), `${dir}/hello`);
    await fs.rm(nodePath.join(home, "manifests"), { recursive: true });
    assert.equal(await findInstalledEntry(home, "hello", "v1.0.0", LINUX_AMD64), `${dir}/hello`);
    await fs.rm(`${dir}/hello`);
    assert.equal(await findInstalledEntry(home, "hello", "v1.0.0", LINUX_AMD64), undefined);
  });
});
