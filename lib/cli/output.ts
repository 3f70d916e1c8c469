/**
 * The one place commands write to the terminal. lib/ code never prints; it reports through
 * callbacks, and commands turn those into lines here.
 *
 * @module
 */
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
 * Writes whole lines through the console, which both runtimes write to fds 1 and 2 synchronously,
 * blocking while a pipe is full (so nothing is lost to process.exit, and lines keep their order).
 * Why not process.stdout: under Bun its first use builds a Node stream (~20 ms); why not
 * node:fs writeSync: importing node:fs costs Bun ~5 ms, an eighth of `ferry --version` (both
 * measured for issue 11). The console prints a lone string argument as it is (no `%` formats).
 * Text that is not a whole line (none of Output's own writes) goes through the stream instead.
 */
function descriptorSink(
  fd: 1 | 2,
  stream: () => { write(chunk: string): unknown },
): TextSink {
  // deno-lint-ignore no-console -- the one module that writes to the terminal (see above)
  const writeLine = fd === 1 ? console.log : console.error;
  return {
    write(text: string) {
      if (text.endsWith("\n")) writeLine(text.slice(0, -1));
      else stream().write(text);
    },
  };
}

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
