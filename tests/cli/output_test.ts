import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createBufferedOutput, createOutput } from "../../lib/cli/output.ts";
import { createProgress, progressLine } from "../../lib/cli/progress.ts";
import { runtimeName } from "../../lib/runtime.ts";

function sinks(isTTY = false) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (quiet = false) =>
      createOutput({
        stdout: { write: (t: string) => stdout.push(t) },
        stderr: { write: (t: string) => stderr.push(t), isTTY },
        quiet,
      }),
  };
}

test("createOutput() puts results on stdout and notes on stderr with prefixes", () => {
  const s = sinks();
  const out = s.out();
  out.print("result");
  out.json({ a: 1 });
  out.info("note");
  out.warn("careful");
  out.error("failed");
  assert.deepEqual(s.stdout, ["result\n", '{\n  "a": 1\n}\n']);
  assert.deepEqual(s.stderr, ["note\n", "Warning: careful\n", "Error: failed\n"]);
  assert.equal(out.interactive, false);
});

test("createOutput() with quiet drops info lines but keeps warnings and errors", () => {
  const s = sinks();
  const out = s.out(true);
  out.info("note");
  out.warn("careful");
  out.error("failed");
  out.print("result");
  assert.deepEqual(s.stderr, ["Warning: careful\n", "Error: failed\n"]);
  assert.deepEqual(s.stdout, ["result\n"]);
});

test("createBufferedOutput() keeps both streams in memory", () => {
  const out = createBufferedOutput();
  out.print("a");
  out.error("b");
  assert.deepEqual(out.stdout, ["a\n"]);
  assert.deepEqual(out.stderr, ["Error: b\n"]);
});

test("createProgress() off a terminal prints a line at once, then at most one per interval", () => {
  const s = sinks(false);
  let clock = 1_000;
  const progress = createProgress(s.out(), "Cloning", {
    intervalMs: 10_000,
    now: () => new Date(clock),
  });
  try {
    clock += 2_000;
    progress.update({ filesDone: 1, filesTotal: 4, bytesDone: 2e6, bytesTotal: 8e6 });
    clock += 3_000;
    progress.update({ filesDone: 2, filesTotal: 4, bytesDone: 4e6, bytesTotal: 8e6 });
    clock += 7_000;
    progress.update({ filesDone: 3, filesTotal: 4, bytesDone: 6e6, bytesTotal: 8e6 });
  } finally {
    progress.stop();
  }
  assert.deepEqual(s.stderr, [
    "Cloning: 1/4 files, 2.0/8.0 MB, 1.0 MB/s, ETA 6 s\n",
    "Cloning: 3/4 files, 6.0/8.0 MB, 0.5 MB/s, ETA 4 s\n",
  ]);
  assert.deepEqual(s.stdout, [], "progress never goes to stdout (where --json is)");
});

test("createProgress() prints nothing under --quiet", () => {
  for (const tty of [false, true]) {
    const s = sinks(tty);
    const progress = createProgress(s.out(true), "Cloning");
    progress.update({ filesDone: 1, filesTotal: 2, bytesDone: 10, bytesTotal: 20 });
    progress.stop();
    assert.deepEqual(s.stderr, []);
  }
});

test("progressLine() leaves out totals and ETA it does not know", () => {
  assert.equal(
    progressLine("Fetching", { filesDone: 7, bytesDone: 3_500_000 }, 2),
    "Fetching: 7 files, 3.5 MB, 1.8 MB/s",
  );
  assert.equal(
    progressLine("Cloning", { filesDone: 0, filesTotal: 9, bytesDone: 0, bytesTotal: 5e9 }, 0),
    "Cloning: 0/9 files, 0.0/5000.0 MB, 0.0 MB/s",
  );
  assert.match(
    progressLine("Cloning", { filesDone: 1, bytesDone: 1e6, bytesTotal: 7201e6 }, 1),
    /ETA 2 h 0 min$/,
  );
});

test("createProgress() draws a bar with the label on a terminal", () => {
  const s = sinks(true);
  const progress = createProgress(s.out(), "Cloning");
  progress.update({ filesDone: 1, filesTotal: 2, bytesDone: 10, bytesTotal: 20 });
  progress.stop();
  assert.match(s.stderr.join(""), /Cloning/);
});

test("createOutput() delivers every line in order to a pipe read late, despite process.exit", async () => {
  // The default Output writes straight to fds 1 and 2 (for start-up time); a pipe that fills
  // while nobody reads must still get every line, in order, before the process exits.
  const script = fileURLToPath(new URL("./_print_lines.ts", import.meta.url));
  const argv = runtimeName() === "deno" ? ["run", "-A", script] : [script];
  const count = 20_000; // ~4 MB: far more than a pipe holds
  const child = spawn(process.execPath, [...argv, String(count)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    child.stdout.pause();
    child.stderr.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdout.resume();
    child.stderr.resume();
    assert.equal(await exited, 0, Buffer.concat(stderr).toString());
    const lines = Buffer.concat(stdout).toString().split("\n");
    assert.equal(lines.length, count + 3);
    lines.slice(0, count).forEach((line, i) => assert.ok(line.startsWith(`${i} x`), line));
    assert.deepEqual(lines.slice(count), ["100% %s %d %o %%", "end", ""]);
    const notes = Buffer.concat(stderr).toString();
    assert.equal(
      notes,
      Array.from({ length: count / 100 }, (_, i) => `note ${i * 100}\n`).join(""),
    );
  } finally {
    child.kill();
  }
});
