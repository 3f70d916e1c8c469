import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  runComponentProcess,
  type RunComponentProcessOptions,
} from "../../lib/client/run_component_process.ts";
import { NotFoundError } from "../../lib/errors.ts";

let home: string;
let installDir: string;
let files: fs.FileHandle[];

beforeEach(async () => {
  home = await fs.mkdtemp(nodePath.join(tmpdir(), "ferry-run-test-"));
  installDir = nodePath.join(home, "components", "hello", "v0.0.1");
  await fs.mkdir(installDir, { recursive: true });
  files = [];
});
afterEach(async () => {
  for (const file of files) await file.close().catch(() => {});
  await fs.rm(home, { recursive: true, force: true });
});

async function script(name: string, body: string, mode = 0o755): Promise<string> {
  const file = nodePath.join(installDir, name);
  await fs.writeFile(file, `#!/bin/sh\n${body}\n`, { mode });
  return file;
}

/** Opens a file and returns its descriptor, for the child's stdio. */
async function fd(path: string, flags: string): Promise<number> {
  const handle = await fs.open(path, flags);
  files.push(handle);
  return handle.fd;
}

function options(extra: Partial<RunComponentProcessOptions> = {}): RunComponentProcessOptions {
  return {
    home,
    component: "hello",
    installDir,
    stdio: ["ignore", "ignore", "ignore"],
    ...extra,
  };
}

/**
 * Runs `entry`, and once it has started sends `signal` to this very process: a real signal for
 * SIGTERM/SIGHUP; SIGINT is emitted on `process` instead, because `deno test` treats a real
 * SIGINT as "stop the test run" whatever listeners exist.
 */
async function runAndSignalSelf(
  entry: string,
  signal: NodeJS.Signals,
  extra: Partial<RunComponentProcessOptions> = {},
): Promise<{ code: number; pid: number }> {
  let pid = 0;
  const started = nodePath.join(home, "started");
  const code = await runComponentProcess(entry, {
    ...options(extra),
    args: [started],
    onStart: (childPid) => {
      pid = childPid;
      void waitForFile(started).then(() => {
        if (signal === "SIGINT") process.emit("SIGINT", "SIGINT");
        else process.kill(process.pid, signal);
        extra.onStart?.(childPid);
      });
    },
  });
  return { code, pid };
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await fs.stat(path).then(() => true, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${path} never appeared`);
}

describe("runComponentProcess()", () => {
  it("resolves to the child's exit code and passes arguments through", async () => {
    const entry = await script("hello", 'test "$1" = "a b" && test "$2" = "--x" && exit 7\nexit 1');
    assert.equal(await runComponentProcess(entry, options({ args: ["a b", "--x"] })), 7);
    assert.equal(await runComponentProcess(await script("ok", "exit 0"), options()), 0);
  });

  it("passes stdin, stdout and stderr straight through", async () => {
    const entry = await script("cat", 'cat\necho "to stderr" >&2');
    const input = nodePath.join(home, "in.txt");
    const output = nodePath.join(home, "out.txt");
    const errors = nodePath.join(home, "err.txt");
    await fs.writeFile(input, "line one\nline two\n");
    await fs.writeFile(output, "");
    await fs.writeFile(errors, "");
    const stdio = [await fd(input, "r"), await fd(output, "w"), await fd(errors, "w")] as [
      number,
      number,
      number,
    ];
    assert.equal(await runComponentProcess(entry, options({ stdio })), 0);
    assert.equal(await fs.readFile(output, "utf8"), "line one\nline two\n");
    assert.equal(await fs.readFile(errors, "utf8"), "to stderr\n");
  });

  it("sets the TiUP component environment and creates the data directories", async () => {
    const entry = await script(
      "env",
      'env > "$1"\ntest -d "$TIUP_INSTANCE_DATA_DIR" && test -d "$TIUP_COMPONENT_DATA_DIR"',
    );
    const dump = nodePath.join(home, "env.txt");
    const code = await runComponentProcess(
      entry,
      options({
        args: [dump],
        env: { PATH: process.env.PATH, KEPT: "yes", TIUP_HOME: "/wrong" },
        cwd: home,
        tag: "mytag",
        requestedVersion: "v0.0.1",
        clientVersion: "0.1.0",
      }),
    );
    assert.equal(code, 0);
    const env = Object.fromEntries(
      (await fs.readFile(dump, "utf8")).trim().split("\n").map((line) => {
        const at = line.indexOf("=");
        return [line.slice(0, at), line.slice(at + 1)];
      }),
    );
    assert.equal(env.KEPT, "yes");
    assert.equal(env.TIUP_HOME, home);
    assert.equal(env.FERRY_HOME, home);
    assert.equal(env.TIUP_COMPONENT_INSTALL_DIR, installDir);
    assert.equal(env.TIUP_COMPONENT_DATA_DIR, nodePath.join(home, "storage", "hello"));
    assert.equal(env.TIUP_INSTANCE_DATA_DIR, nodePath.join(home, "data", "mytag"));
    assert.equal(env.TIUP_TAG, "mytag");
    assert.equal(env.TIUP_WORK_DIR, home);
    assert.equal(env.TIUP_USER_INPUT_VERSION, "v0.0.1");
    assert.equal(env.TIUP_VERSION, "0.1.0");
    // A tagged instance keeps its data directory.
    assert.ok((await fs.stat(nodePath.join(home, "data", "mytag"))).isDirectory());
  });

  it("removes the data directory of an untagged run afterwards", async () => {
    const entry = await script("tagdump", 'printf %s "$TIUP_TAG" > "$1"');
    const out = nodePath.join(home, "tag.txt");
    assert.equal(await runComponentProcess(entry, options({ args: [out] })), 0);
    const tag = await fs.readFile(out, "utf8");
    assert.match(tag, /^[A-Za-z0-9]{10}$/);
    assert.deepEqual(await fs.readdir(nodePath.join(home, "data")), []);
  });

  it("reports death by a signal as 128 + the signal number", async () => {
    const entry = await script("die", "kill -9 $$");
    assert.equal(await runComponentProcess(entry, options()), 137);
  });

  it("forwards SIGTERM to the child and waits for it", async () => {
    const entry = await script("sleeper", 'touch "$1"\nexec sleep 30');
    const { code } = await runAndSignalSelf(entry, "SIGTERM");
    assert.equal(code, 143);
  });

  it("forwards SIGHUP to the child", async () => {
    const entry = await script("sleeper", 'touch "$1"\nexec sleep 30');
    assert.equal((await runAndSignalSelf(entry, "SIGHUP")).code, 129);
  });

  it("forwards SIGINT when forwardSigint is set", async () => {
    const entry = await script("sleeper", 'touch "$1"\nexec sleep 30');
    assert.equal((await runAndSignalSelf(entry, "SIGINT", { forwardSigint: true })).code, 130);
  });

  it("survives SIGINT without forwarding it when forwardSigint is false", async () => {
    // The child ignores nothing: had SIGINT been forwarded it would exit 130. We end it with
    // SIGKILL (137) once ferry's process has taken the SIGINT.
    const entry = await script("sleeper", 'touch "$1"\nexec sleep 30');
    const { code } = await runAndSignalSelf(entry, "SIGINT", {
      forwardSigint: false,
      onStart: (pid) => void setTimeout(() => process.kill(pid, "SIGKILL"), 200),
    });
    assert.equal(code, 137);
  });

  it("removes its signal handlers when the child has exited", async () => {
    const before = process.listenerCount("SIGTERM");
    await runComponentProcess(await script("ok", "exit 0"), options());
    assert.equal(process.listenerCount("SIGTERM"), before);
  });

  it("throws NotFoundError for a missing entry", async () => {
    await assert.rejects(
      runComponentProcess(nodePath.join(installDir, "missing"), options()),
      NotFoundError,
    );
  });

  it("explains an entry that is not executable", async () => {
    const entry = await script("noexec", "exit 0", 0o644);
    await assert.rejects(runComponentProcess(entry, options()), /permission denied/);
  });
});
