import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import { hostPlatform } from "../../lib/client/host_platform.ts";
import {
  launchComponent,
  type LaunchComponentOptions,
  type LaunchNotice,
} from "../../lib/client/launch_component.ts";
import { openClientUpdater } from "../../lib/client/open_client_updater.ts";
import { DownloadError, SignatureError, UsageError } from "../../lib/errors.ts";
import { MirrorSimulator, type SimulatorKeys } from "../_simulator.ts";
import { clientKeys, componentTarball, NOW, now, tempHome, trustMirror } from "./_client_mirror.ts";

describe("launchComponent()", () => {
  let keys: SimulatorKeys;
  let home: string;
  let sim: MirrorSimulator;
  let notices: LaunchNotice[];
  before(async () => (keys = await clientKeys()));
  beforeEach(async () => {
    home = await tempHome("ferry-launch-test");
    const host = hostPlatform();
    sim = await MirrorSimulator.create(keys, { now: NOW });
    for (const version of ["v1.0.0", "v1.1.0"]) {
      await sim.publish("hello", version, {
        platform: `${host.os}/${host.arch}`,
        content: componentTarball("hello"),
      });
    }
    await trustMirror(home, sim);
    notices = [];
  });
  afterEach(async () => await fs.rm(home, { recursive: true, force: true }));

  function options(extra: Partial<LaunchComponentOptions> = {}): LaunchComponentOptions {
    return {
      args: ["a"],
      env: {},
      signal: new AbortController().signal,
      clientVersion: "0.0.0",
      openMirror: async () => {
        const updater = await openClientUpdater(home, sim.storage, { now });
        await updater.refresh();
        return { address: "mem://sim", updater };
      },
      onNotice: (notice) => notices.push(notice),
      ...extra,
    };
  }
  const unreachable = () => Promise.reject(new DownloadError("Cannot connect to the mirror"));
  const said = (level: LaunchNotice["level"], pattern: RegExp) =>
    notices.some((n) => n.level === level && pattern.test(n.message));

  it("installs the mirror's latest stable version and runs it", async () => {
    assert.equal(await launchComponent(home, { name: "hello" }, options()), 0);
    assert.ok(
      said("info", /hello v1\.1\.0 is not installed; downloading/),
      JSON.stringify(notices),
    );
    assert.ok(said("info", /^Starting component hello: .*v1\.1\.0\/hello a$/));
  });

  it("runs the installed version, with a warning, when the mirror cannot be reached", async () => {
    await launchComponent(home, { name: "hello", version: "v1.0.0" }, options());
    notices = [];
    const code = await launchComponent(
      home,
      { name: "hello" },
      options({ openMirror: unreachable }),
    );
    assert.equal(code, 0);
    assert.ok(
      said(
        "warn",
        /^Cannot reach the mirror \(Cannot connect.*running the installed hello v1\.0\.0$/,
      ),
    );
  });

  it("runs an installed version named explicitly without opening the mirror", async () => {
    await launchComponent(home, { name: "hello", version: "v1.0.0" }, options());
    let opened = false;
    const code = await launchComponent(
      home,
      { name: "hello", version: "v1.0.0" },
      options({
        openMirror: () => {
          opened = true;
          return unreachable();
        },
      }),
    );
    assert.equal(code, 0);
    assert.equal(opened, false);
  });

  it("does not pass over a mirror that fails verification, even with a version installed", async () => {
    await launchComponent(home, { name: "hello", version: "v1.0.0" }, options());
    const forged = new SignatureError('Cannot verify "timestamp.json": 0 of 1 signatures');
    await assert.rejects(
      launchComponent(
        home,
        { name: "hello" },
        options({ openMirror: () => Promise.reject(forged) }),
      ),
      (error) => error === forged,
    );
  });

  it("asks whenNotInstalled what to throw when nothing is installed and the mirror is down", async () => {
    const instead = new UsageError("Unknown command");
    const seen: unknown[] = [];
    await assert.rejects(
      launchComponent(
        home,
        { name: "hello" },
        options({
          openMirror: unreachable,
          whenNotInstalled: (error) => {
            seen.push(error);
            return instead;
          },
        }),
      ),
      (error) => error === instead,
    );
    assert.ok(seen[0] instanceof DownloadError);
  });
});
