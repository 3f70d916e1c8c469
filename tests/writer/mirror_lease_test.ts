import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AlreadyExistsError, StorageError } from "../../lib/errors.ts";
import { acquireLease } from "../../lib/writer/mirror_lease.ts";
import { readText } from "../../lib/storage/read_bytes.ts";
import { CasMemoryStorage } from "./_cas_storage.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_800_000_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => void (now += ms) };
}

const A = { pid: 101, host: "builder-a" };
const B = { pid: 202, host: "builder-b" };

describe("acquireLease()", () => {
  it("lets one of two racing writers in; the other waits, told once, and gets it after", async () => {
    const storage = new CasMemoryStorage();
    const waits: string[] = [];
    const first = await acquireLease(storage, "lock", { holder: A });
    const second = acquireLease(storage, "lock", {
      holder: B,
      onWait: (message) => waits.push(message),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(waits.length, 1);
    assert.match(waits[0]!, /pid 101 on "builder-a"/);
    await first.release();
    const lease = await second;
    assert.match(await readText(storage, "lock"), /"builder-b"/);
    await lease.release();
    assert.equal(waits.length, 1);
  });

  it("exactly one of many concurrent takers of a free lease wins at a time", async () => {
    const storage = new CasMemoryStorage();
    let inside = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 6 }, async (_, i) => {
      const lease = await acquireLease(storage, "lock", { holder: { pid: i, host: "h" } });
      inside++;
      most = Math.max(most, inside);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inside--;
      await lease.release();
    }));
    assert.equal(most, 1);
  });

  it("gives up after waitMs with a message naming the holder and its expiry", async () => {
    const storage = new CasMemoryStorage();
    const time = manualClock();
    const first = await acquireLease(storage, "lock", { holder: A, clock: time.clock });
    try {
      const waiting = acquireLease(storage, "lock", { holder: B, clock: time.clock, waitMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 60));
      time.advance(6000); // past the wait, not past the lease (renewed: 30 s from each renewal)
      const error = await waiting.catch((e) => e);
      assert.ok(error instanceof StorageError && error.cause instanceof AlreadyExistsError);
      assert.match(error.message, /another writer \(pid 101 on "builder-a"/);
      assert.match(error.message, /renewed until 20/);
    } finally {
      await first.release();
    }
  });

  it("takes over a lease that expired unrenewed; the writer that lost it cannot commit", async () => {
    const storage = new CasMemoryStorage();
    const time = manualClock();
    // A 1-minute lease whose holder is then "paused": the clock jumps past its expiry before
    // its renewal timer (every 20 s of real time) can run.
    const paused = await acquireLease(storage, "lock", {
      holder: A,
      clock: time.clock,
      ttlMs: 60_000,
    });
    await paused.fence();
    time.advance(61_000);
    const taker = await acquireLease(storage, "lock", { holder: B, clock: time.clock, waitMs: 0 });
    await assert.rejects(paused.fence(), /lease "lock" was lost \(it expired/);
    await assert.rejects(paused.fence({ renew: true }), /lost/);
    await taker.fence({ renew: true });
    // The late writer's release does not free the taker's lease.
    await paused.release();
    assert.match(await readText(storage, "lock"), /"builder-b"/);
    await assert.rejects(
      acquireLease(storage, "lock", { holder: A, clock: time.clock, waitMs: 0 }),
      /pid 202 on "builder-b"/,
    );
    await taker.release();
  });

  it("a renewal that finds the lease replaced marks it lost", async () => {
    const storage = new CasMemoryStorage();
    const lease = await acquireLease(storage, "lock", { holder: A });
    // Someone removes and re-creates the lease object behind the holder's back.
    await storage.delete("lock");
    await storage.write("lock", "{}");
    await assert.rejects(lease.fence({ renew: true }), /another writer took it over/);
    await lease.release();
    assert.equal(await readText(storage, "lock"), "{}");
  });

  it("refuses an object at the lease path that is not a ferry lease, saying what to do", async () => {
    const storage = new CasMemoryStorage();
    await storage.write("lock", "not json");
    await assert.rejects(
      acquireLease(storage, "lock", { holder: A, waitMs: 0 }),
      /not a ferry lease; if no writer is running, remove it/,
    );
  });
});
