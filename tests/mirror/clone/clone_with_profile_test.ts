import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { after, before, describe, test } from "node:test";
import { SignatureError } from "../../../lib/errors.ts";
import {
  cloneWithProfile,
  type CloneWithProfileOptions,
} from "../../../lib/mirror/clone/clone_with_profile.ts";
import { takeTestKey } from "../../_keys.ts";
import { makeSourceMirror, type SourceMirror, T0 } from "../../_simulator.ts";

const TIMEOUT = { timeout: 120_000 };
const FIRST_USE = /Trusting ".*root\.json" on first use/;

describe("cloneWithProfile()", () => {
  let source: SourceMirror;
  let other: SourceMirror;
  let work: string;
  before(async () => {
    source = await makeSourceMirror({ populate: false });
    other = await makeSourceMirror({ populate: false });
    work = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-clone-profile-"));
  }, TIMEOUT);
  after(async () => {
    await source?.remove();
    await other?.remove();
    if (work) await fs.rm(work, { recursive: true, force: true });
  }, TIMEOUT);

  /** A profile whose mirror is `source` and that trusts its root.json. */
  async function profile(name: string): Promise<string> {
    const home = nodePath.join(work, name);
    await fs.mkdir(nodePath.join(home, "bin"), { recursive: true });
    await fs.copyFile(
      nodePath.join(source.dir, "root.json"),
      nodePath.join(home, "bin", "root.json"),
    );
    return home;
  }
  const options = (extra: Partial<CloneWithProfileOptions> = {}): CloneWithProfileOptions => ({
    env: { FERRY_MIRROR: source.dir },
    now: T0,
    generateKey: takeTestKey,
    ...extra,
  });

  test(
    "cloneWithProfile() trusts the profile's root for the profile's own mirror",
    TIMEOUT,
    async () => {
      const home = await profile("own");
      const report = await cloneWithProfile(home, nodePath.join(work, "own-clone"), options());
      assert.equal(report.created, true);
      assert.ok(!report.notes.some((n) => FIRST_USE.test(n)), report.notes.join("\n"));
      // The profile's verified-manifest cache was used and updated.
      await fs.stat(nodePath.join(home, "manifests", "timestamp.json"));
    },
  );

  test("cloneWithProfile() trusts a --source on first use, and says so", TIMEOUT, async () => {
    const home = await profile("given");
    const report = await cloneWithProfile(
      home,
      nodePath.join(work, "given-clone"),
      options({ source: source.dir }),
    );
    assert.ok(report.notes.some((n) => FIRST_USE.test(n)), report.notes.join("\n"));
  });

  test(
    "cloneWithProfile() refuses a --source-root of another mirror before creating anything",
    TIMEOUT,
    async () => {
      const home = await profile("wrong-root");
      const target = nodePath.join(work, "wrong-root-clone");
      let started = false;
      await assert.rejects(
        cloneWithProfile(
          home,
          target,
          options({
            sourceRoot: nodePath.join(other.dir, "root.json"),
            beforeClone: () => {
              started = true;
            },
          }),
        ),
        (error) =>
          error instanceof SignatureError && /does not belong to the mirror/.test(error.message),
      );
      assert.equal(started, false);
      await assert.rejects(fs.stat(target));
    },
  );
});
