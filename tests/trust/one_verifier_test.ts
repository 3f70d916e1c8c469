/**
 * The one-verifier property: the client updater, `mirror verify` and the writer (which loads its
 * state before every transaction) trust a mirror through the same core and the same root walk,
 * so a hostile root chain is refused by all three with the same error from the same step,
 * `TrustedMetadataSet.updateRoot` called by `walkRootChain`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManifestFormatError, RollbackError, SignatureError } from "../../lib/errors.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import { verifyMirror } from "../../lib/mirror/verify_mirror.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { MirrorUpdater } from "../../lib/trust/mirror_updater.ts";
import { TrustedMetadataSet } from "../../lib/trust/trusted_set.ts";
import { updateRepository } from "../../lib/writer/update_repository.ts";
import { takeTestKeys } from "../_keys.ts";
import { assignKeys, keyMap, MirrorSimulator, type SimulatorKeys, T0 } from "../_simulator.ts";

/** A hostile 2.root.json, announced by a snapshot and timestamp the old keys still sign. */
type HostileChain = (sim: MirrorSimulator, spare: SigningKey[]) => Promise<void>;

const CHAINS: Array<[string, HostileChain, new (...args: never[]) => Error]> = [
  [
    "a root signed only by new keys (attack: key takeover without the old root keys)",
    async (sim, spare) => void await sim.rotateRoot(spare.slice(0, 2), spare.slice(0, 2)),
    SignatureError,
  ],
  [
    "a root that expires before the one it replaces (attack: shortened trust)",
    async (sim) => {
      sim.root = structuredClone(sim.root);
      sim.root.version = 2;
      sim.root.expires = sim.expiry(31);
      await sim.writeRoot();
    },
    RollbackError,
  ],
  [
    "a root that files a key under another key's ID (attack: key substitution)",
    async (sim) => {
      sim.root = structuredClone(sim.root);
      sim.root.version = 2;
      sim.root.roles.index.keys = { [sim.keys.timestamp.id]: sim.keys.index.publicInfo };
      await sim.writeRoot();
    },
    ManifestFormatError,
  ],
];

describe("one verifier: updater, mirror verify and writer", () => {
  let keys: SimulatorKeys;
  let spare: SigningKey[];
  const calls: string[] = [];
  const original = TrustedMetadataSet.prototype.updateRoot;
  before(() => {
    const pool = takeTestKeys(8);
    keys = assignKeys(pool);
    spare = pool.slice(6);
    // Records which step refuses the root; the step itself runs unchanged.
    TrustedMetadataSet.prototype.updateRoot = function (bytes: Uint8Array) {
      try {
        return original.call(this, bytes);
      } catch (error) {
        calls.push(`updateRoot: ${(error as Error).message}`);
        throw error;
      }
    };
  });
  after(() => {
    TrustedMetadataSet.prototype.updateRoot = original;
  });

  for (const [what, makeChain, ErrorClass] of CHAINS) {
    it(`all three refuse ${what} with one error from one step`, async () => {
      const sim = await MirrorSimulator.create(keys, { now: T0 });
      await sim.publish("tidb", "v1.0.0");
      await makeChain(sim, spare);
      await sim.commit();
      calls.length = 0;

      const updater = new MirrorUpdater(sim.storage, {
        trustedRoot: await sim.file("root.json"),
        now: () => T0,
      });
      const client = await updater.refresh().then(() => undefined, (error: Error) => error);
      const report = await verifyMirror(sim.storage, { now: T0 });
      const writer = await updateRepository(sim.storage, () => {
        throw new Error("the writer planned a change on a mirror it should refuse");
      }, { now: T0 }).then(() => undefined, (error: Error) => error);
      const loaded = await loadRepositoryState(sim.storage, { now: T0 })
        .then(() => undefined, (error: Error) => error);

      assert.ok(client instanceof ErrorClass, `updater: ${client}`);
      assert.ok(writer instanceof ErrorClass, `writer: ${writer}`);
      assert.ok(loaded instanceof ErrorClass, `loadRepositoryState: ${loaded}`);
      const problem = report.problems.find((p) => p.file === "2.root.json");
      assert.ok(problem, JSON.stringify(report.problems));
      assert.equal(report.versions.root, 1);
      // The same message, thrown four times by the same step.
      assert.equal(writer.message, client.message);
      assert.equal(loaded.message, client.message);
      assert.equal(problem.message, client.message);
      assert.deepEqual(calls, Array(4).fill(`updateRoot: ${client.message}`));
    });
  }

  it("all three accept the same chain when it is sound (double-signed 2.root.json)", async () => {
    const sim = await MirrorSimulator.create(keys, { now: T0 });
    await sim.publish("tidb", "v1.0.0");
    await sim.rotateRoot(spare.slice(0, 2));
    await sim.commit();
    const updater = new MirrorUpdater(sim.storage, {
      trustedRoot: await sim.file("root.json"),
      now: () => T0,
    });
    assert.equal((await updater.refresh()).rootVersion, 2);
    const report = await verifyMirror(sim.storage, { now: T0 });
    assert.deepEqual(report.problems, []);
    assert.equal(report.versions.root, 2);
    const state = await loadRepositoryState(sim.storage, { now: T0 });
    assert.equal(state.root.path, "2.root.json");
    assert.deepEqual(state.root.manifest.signed.roles.root.keys, keyMap(spare.slice(0, 2)));
  });
});
