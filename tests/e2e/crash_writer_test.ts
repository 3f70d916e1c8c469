/**
 * The writer against real kills and real foreign locks, through the real CLI (or FERRY_BIN):
 *
 * - an inotify watcher SIGKILLs `ferry mirror publish` the instant snapshot.json is renamed into
 *   the mirror, i.e. before timestamp.json: `ferry mirror verify` then names the interrupted
 *   commit and the command that repairs it, and that command completes it;
 * - flock(1) (util-linux, the same flock(2) TiUP's writer takes on `<mirror>/lock`) keeps ferry
 *   out, and a ferry writer keeps flock(1) out;
 * - a writer that finds the lock held waits for it (`--lock-wait`), so two publishers started
 *   together both land, and one held forever is given up on with the holder's name.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { after, describe, it } from "node:test";
import { JOURNAL_PATH } from "../../lib/writer/commit_journal.ts";
import { loadComponentManifest } from "../../lib/trust/load_component_manifest.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { makeTarball } from "../_simulator.ts";
import { makeTempDir, runFerryExpecting, startFerry } from "./_cli.ts";

const TIMEOUT = { timeout: 240_000 };
let temp: { dir: string; remove(): Promise<void> };
let mirror: string;
let env: Record<string, string>;
const started: ChildProcess[] = [];

function ferry(args: string[], expectCode = 0) {
  return runFerryExpecting(args, expectCode, { cwd: temp.dir, env, timeoutMs: 120_000 });
}

function publishArgs(version: string): string[] {
  return [
    "mirror",
    "publish",
    "hello",
    version,
    "hello.tar.gz",
    "hello",
    "--os",
    "linux",
    "--arch",
    "amd64",
    "--mirror",
    mirror,
  ];
}

/** Versions of hello the verified mirror lists. */
async function helloVersions(): Promise<string[]> {
  const storage = new LocalStorage(mirror);
  const state = await loadRepositoryState(storage);
  const hello = await loadComponentManifest(storage, state, "hello");
  return Object.keys(hello?.manifest.signed.platforms["linux/amd64"] ?? {}).sort();
}

/** A started helper process, killed in `after` if a test left it running. */
function track(child: ChildProcess): ChildProcess {
  started.push(child);
  return child;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Exit status of `flock -n FILE true`: 0 when the lock is free, 1 when someone holds it. */
function flockFree(file: string): boolean {
  return spawnSync("flock", ["-n", file, "true"]).status === 0;
}

/** Starts `inotifywait -m` on the mirror and resolves once its watches are in place. */
async function watchMirror(
  events: string,
  onEvent: (name: string) => void,
): Promise<ChildProcess> {
  const watcher = track(spawn("inotifywait", ["-m", "-e", events, "--format", "%f", mirror], {
    stdio: ["ignore", "pipe", "pipe"],
  }));
  watcher.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    for (const line of chunk.split("\n")) if (line) onEvent(line);
  });
  await new Promise<void>((resolve, reject) => {
    let text = "";
    watcher.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("Watches established")) resolve();
    });
    watcher.once("exit", () => reject(new Error(`inotifywait exited: ${text}`)));
  });
  return watcher;
}

/**
 * The mirror every test works on, made once (lazily, inside the first test: Bun's hooks ignore
 * timeouts, and four CLI runs from source take longer than its 5 s default).
 */
let made: Promise<void> | undefined;
function setup(): Promise<void> {
  made ??= (async () => {
    temp = await makeTempDir("ferry-e2e-crash");
    env = { FERRY_HOME: nodePath.join(temp.dir, "home"), FERRY_MIRROR: "", TIUP_MIRRORS: "" };
    mirror = nodePath.join(temp.dir, "mirror");
    await fs.writeFile(
      nodePath.join(temp.dir, "hello.tar.gz"),
      await makeTarball("hello", "hello"),
    );
    await ferry(["mirror", "init", mirror]);
    await ferry(["mirror", "genkey"]);
    await ferry(["mirror", "grant", "jdoe", "--mirror", mirror]);
    await ferry(publishArgs("v0.0.1"));
  })();
  return made;
}
after(async () => {
  for (const child of started) {
    child.kill("SIGKILL");
    killGroup(child);
  }
  await made?.catch(() => {});
  await temp?.remove();
});

describe("a writer killed with SIGKILL (CLI)", () => {
  it(
    "killed the instant snapshot.json is renamed in, before timestamp.json: verify names the commit, renew completes it",
    TIMEOUT,
    async () => {
      await setup();
      let landed = false;
      const published = ["v0.0.1"];
      // A kill can land late (after the whole commit): then try again, up to 8 times.
      for (let attempt = 2; attempt < 10 && !landed; attempt++) {
        const version = `v0.0.${attempt}`;
        let writerPid = 0;
        let killed = false;
        const watcher = await watchMirror("moved_to", (name) => {
          if (name === "snapshot.json" && writerPid && !killed) {
            killed = true;
            process.kill(writerPid, "SIGKILL");
          }
        });
        const writer = await startFerry(publishArgs(version), { cwd: temp.dir, env });
        writerPid = writer.pid;
        const exit = await writer.exited;
        watcher.kill("SIGKILL");
        if (exit.signal !== "SIGKILL") {
          assert.equal(exit.code, 0, writer.stderr());
          published.push(version);
          continue;
        }
        const journal = await fs.stat(nodePath.join(mirror, JOURNAL_PATH)).catch(() => undefined);
        const timestamp = JSON.parse(
          await fs.readFile(nodePath.join(mirror, "timestamp.json"), "utf8"),
        );
        const snapshot = await fs.readFile(nodePath.join(mirror, "snapshot.json"));
        const between = timestamp.signed.meta["/snapshot.json"].hashes.sha256 !==
          createHash("sha256").update(snapshot).digest("hex");
        if (journal) {
          const verify = await ferry(["mirror", "verify", mirror], 3);
          const text = verify.stdout + verify.stderr;
          assert.match(text, /the commit commit-\d+ \(started [^)]+\) was interrupted/);
          assert.match(text, /ferry mirror renew --mirror /);
          landed ||= between;
        }
        const renew = await ferry(["mirror", "renew", "--mirror", mirror]);
        if (journal) assert.match(renew.stdout + renew.stderr, /Completed the interrupted commit/);
        await ferry(["mirror", "verify", mirror]);
        published.push(version); // its files were all written before snapshot.json moved in
      }
      assert.ok(landed, "no kill landed between the snapshot.json and timestamp.json renames");
      assert.deepEqual(await helloVersions(), published.sort());
      await fs.stat(nodePath.join(mirror, JOURNAL_PATH)).then(
        () => assert.fail("the journal is still there"),
        () => {},
      );
    },
  );
});

describe("the mirror lock is TiUP's flock(2) on <mirror>/lock (CLI)", () => {
  it("writes to a mirror with TiUP's empty 0600 lock file", TIMEOUT, async () => {
    await setup();
    const lock = nodePath.join(mirror, "lock");
    await fs.rm(lock, { force: true });
    await fs.writeFile(lock, "", { mode: 0o600 });
    await ferry(["mirror", "renew", "--mirror", mirror]);
    const info = await fs.stat(lock);
    assert.equal(info.size, 0);
    assert.equal(info.mode & 0o777, 0o600);
  });

  it(
    "waits --lock-wait for another process (flock(1), as tiup) holding the lock, then gives up",
    TIMEOUT,
    async () => {
      await setup();
      const lock = nodePath.join(mirror, "lock");
      const holder = track(
        spawn("flock", [lock, "sleep", "120"], { stdio: "ignore", detached: true }),
      );
      try {
        while (flockFree(lock)) await new Promise((r) => setTimeout(r, 20));
        const refused = await ferry(
          ["mirror", "renew", "--mirror", mirror, "--lock-wait", "1s"],
          1,
        );
        assert.match(
          refused.stderr,
          /Waiting for another process \(a tiup or ferry writer\) to finish: it holds the lock on ".*\/lock"/,
        );
        assert.match(
          refused.stderr,
          /holds the lock on ".*\/lock" \(waited 1 s\); wait for it to finish and retry/,
        );
      } finally {
        killGroup(holder);
      }
      while (!flockFree(lock)) await new Promise((r) => setTimeout(r, 20));
      await ferry(["mirror", "renew", "--mirror", mirror]);
    },
  );

  it(
    "two publishers in two processes started together on one local mirror: both land, verify passes",
    TIMEOUT,
    async () => {
      await setup();
      const before = await helloVersions();
      const [one, two] = await Promise.all([
        ferry(publishArgs("v0.1.1")),
        ferry(publishArgs("v0.1.2")),
      ]);
      // At most one found the lock taken, and it said that it waited instead of failing.
      const waited = [one, two].filter((r) => /Waiting for another writer/.test(r.stderr));
      assert.ok(waited.length <= 1, `${one.stderr}\n${two.stderr}`);
      assert.deepEqual(await helloVersions(), [...before, "v0.1.1", "v0.1.2"].sort());
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it(
    "a ferry writer that never releases the lock: the next waits --lock-wait, then fails naming it",
    TIMEOUT,
    async () => {
      await setup();
      const lock = nodePath.join(mirror, "lock");
      let caught = false;
      for (let attempt = 0; attempt < 8 && !caught; attempt++) {
        await whileWriterHoldsLock(async (writerPid) => {
          // Stopped late (while releasing) the lock no longer names it: try again.
          if (flockFree(lock)) return;
          if (!(await fs.readFile(lock, "utf8")).includes(`"pid":${writerPid}`)) return;
          caught = true;
          const refused = await ferry(
            ["mirror", "renew", "--mirror", mirror, "--lock-wait", "2s"],
            1,
          );
          const holderIs = `another writer \\(pid ${writerPid} on "[^"]+", since [^)]+\\)`;
          assert.match(
            refused.stderr,
            new RegExp(`Waiting for ${holderIs} to finish: it holds the lock on ".*/lock"`),
          );
          assert.match(
            refused.stderr,
            new RegExp(`${holderIs} holds the lock on ".*/lock" \\(waited 2 s\\)`),
          );
        }, { stopWhen: (pid) => readFileSync(lock, "utf8").includes(`"pid":${pid}`) });
      }
      assert.ok(caught, "never caught the writer holding the lock");
      await ferry(["mirror", "verify", mirror]);
    },
  );

  it("holds flock(2) on the lock while it writes, keeping flock(1) out", TIMEOUT, async () => {
    await setup();
    const lock = nodePath.join(mirror, "lock");
    let seen = false;
    for (let attempt = 0; attempt < 8 && !seen; attempt++) {
      await whileWriterHoldsLock(async (writerPid) => {
        const locks = await fs.readFile("/proc/locks", "utf8");
        if (flockFree(lock)) return;
        seen = true;
        assert.match(locks, new RegExp(`FLOCK\\s+ADVISORY\\s+WRITE\\s+${writerPid}\\s`));
      });
    }
    assert.ok(seen, "never caught the writer holding the lock");
    assert.ok(flockFree(lock));
    await ferry(["mirror", "verify", mirror]);
  });
});

/**
 * Runs `ferry mirror renew`, SIGSTOPs it the moment it notes itself in `<mirror>/lock` (it then
 * holds the lock for as long as `whileStopped` takes), lets it go on and checks that it
 * succeeded. A stop can land late (while it releases): `whileStopped` looks and may find the
 * lock free; it is not called when the writer finished before any stop. `stopWhen` picks the
 * modification to stop at (the note is a truncate, then a write).
 */
async function whileWriterHoldsLock(
  whileStopped: (pid: number) => Promise<void>,
  options: { stopWhen?: (pid: number) => boolean } = {},
): Promise<void> {
  let writerPid = 0;
  let stopped = false;
  const watcher = await watchMirror("modify", (name) => {
    if (name === "lock" && writerPid && !stopped && (options.stopWhen?.(writerPid) ?? true)) {
      stopped = true;
      process.kill(writerPid, "SIGSTOP");
    }
  });
  const writer = await startFerry(["mirror", "renew", "--mirror", mirror], { cwd: temp.dir, env });
  writerPid = writer.pid;
  while (!stopped && !(await Promise.race([writer.exited.then(() => true), sleep(20)]))) {
    // wait for the stop or the exit
  }
  watcher.kill("SIGKILL");
  try {
    if (stopped) await whileStopped(writerPid);
  } finally {
    if (stopped) process.kill(writerPid, "SIGCONT");
  }
  const exit = await writer.exited;
  assert.equal(exit.code, 0, writer.stderr());
}

function sleep(ms: number): Promise<false> {
  return new Promise((resolve) => setTimeout(() => resolve(false), ms));
}
