import assert from "node:assert/strict";
import { test } from "node:test";
import { createBufferedOutput, createOutput } from "../../lib/cli/output.ts";
import { createProgress } from "../../lib/cli/progress.ts";

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

test("createProgress() draws nothing when stderr is not a terminal", () => {
  const s = sinks(false);
  const progress = createProgress(s.out(), "Cloning");
  progress.update({ filesDone: 1, filesTotal: 2, bytesDone: 10, bytesTotal: 20 });
  progress.stop();
  assert.deepEqual(s.stderr, []);
});

test("createProgress() draws a bar with the label on a terminal", () => {
  const s = sinks(true);
  const progress = createProgress(s.out(), "Cloning");
  progress.update({ filesDone: 1, filesTotal: 2, bytesDone: 10, bytesTotal: 20 });
  progress.stop();
  assert.match(s.stderr.join(""), /Cloning/);
});
