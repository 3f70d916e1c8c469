/**
 * The one place commands write to the terminal. lib/ code never prints; it reports through
 * callbacks, and commands turn those into lines here.
 *
 * @module
 */
import { writeSync } from "node:fs";

/** Something text can be written to: process.stdout, or a buffer in tests. */
export interface TextSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Where a command's results, notes and errors go. */
export interface Output {
  /** A line of the command's result, on stdout. */
  print(line: string): void;
  /** A machine-readable result, on stdout, as one JSON document. */
  json(value: unknown): void;
  /** A note for the human (what is happening, what to do next), on stderr. */
  info(line: string): void;
  /** Something worth attention that did not stop the command, on stderr. */
  warn(line: string): void;
  /** Why the command failed, on stderr. */
  error(line: string): void;
  /** True when stderr is an interactive terminal, so progress may be drawn. */
  readonly interactive: boolean;
  /** The stream progress bars draw on. */
  readonly progressSink: TextSink;
  /** Set by --quiet: info lines are dropped. */
  readonly quiet: boolean;
}

/** Options for {@linkcode createOutput}. */
export interface CreateOutputOptions {
  stdout?: TextSink;
  stderr?: TextSink;
  quiet?: boolean;
}

/** Builds an Output over two sinks (the process's stdout and stderr by default). */
export function createOutput(options: CreateOutputOptions = {}): Output {
  const stdout = options.stdout ?? descriptorSink(1, () => process.stdout);
  const stderr = options.stderr ?? descriptorSink(2, () => process.stderr);
  // process.stderr is touched only when a progress display asks for it (see descriptorSink).
  const stderrStream = () => options.stderr ?? process.stderr;
  const quiet = options.quiet ?? false;
  return {
    print: (line) => void stdout.write(`${line}\n`),
    json: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    info: (line) => {
      if (!quiet) stderr.write(`${line}\n`);
    },
    warn: (line) => void stderr.write(`Warning: ${line}\n`),
    error: (line) => void stderr.write(`Error: ${line}\n`),
    get interactive() {
      return stderrStream().isTTY === true;
    },
    get progressSink() {
      return stderrStream();
    },
    quiet,
  };
}

/**
 * Writes to a file descriptor directly. Why: under Bun, the first use of process.stdout or
 * process.stderr builds a Node stream, which cost about 20 ms, more than everything else
 * `ferry --version` does (measured for issue 11). Writes are synchronous, as process.stdout's
 * are on Linux for files, terminals and pipes. Should a write fail (a non-blocking pipe that is
 * full, a closed one), that text and everything after it go through the stream instead, so
 * lines keep their order and errors behave as before.
 */
function descriptorSink(
  fd: 1 | 2,
  stream: () => { write(chunk: Uint8Array | string): unknown },
): TextSink {
  let fallback: { write(chunk: Uint8Array | string): unknown } | undefined;
  return {
    write(text: string) {
      if (fallback) return fallback.write(text);
      let bytes = encoder.encode(text);
      try {
        while (bytes.length > 0) bytes = bytes.subarray(writeSync(fd, bytes));
      } catch {
        fallback = stream();
        return fallback.write(bytes);
      }
    },
  };
}

const encoder = new TextEncoder();

/** An Output that keeps everything in memory, for tests. */
export function createBufferedOutput(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output = createOutput({
    stdout: { write: (text: string) => stdout.push(text) },
    stderr: { write: (text: string) => stderr.push(text) },
  });
  return Object.assign(output, { stdout, stderr });
}
