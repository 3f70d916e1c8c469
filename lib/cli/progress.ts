import cliProgress from "cli-progress";
import { type Clock, systemClock } from "../clock.ts";
import type { ProgressEvent } from "../progress_events.ts";
import type { Output } from "./output.ts";

/** A progress display: draws on a terminal, does nothing otherwise. */
export interface Progress {
  update(event: ProgressEvent): void;
  stop(): void;
}

/** A display that shows nothing: for --json runs, whose stderr belongs to machines too. */
export const NO_PROGRESS: Progress = { update() {}, stop() {} };

/** Options for {@linkcode createProgress}. */
export interface CreateProgressOptions {
  /** Off a terminal: at most one line per this many ms (default 10 s). */
  intervalMs?: number;
  /** The clock (tests inject one). */
  now?: Clock;
}

/** How often a line is printed off a terminal, by default. */
export const PROGRESS_LINE_INTERVAL_MS = 10_000;

/**
 * Creates a progress display for `label`. On a TTY it draws a bar with files, bytes, rate and
 * ETA (cli-progress does the drawing). In pipes and CI it prints one plain line at a steady
 * interval (the first at once), `Cloning: 3/10 files, 1.2/8.4 MB, 0.6 MB/s, ETA 12 s`, so a
 * log shows the work is alive; a stall still gets its line from a timer. Under --quiet it
 * stays silent.
 */
export function createProgress(
  output: Output,
  label: string,
  options: CreateProgressOptions = {},
): Progress {
  if (output.quiet) return NO_PROGRESS;
  if (!output.interactive) return createProgressLines(output, label, options);
  const bar = new cliProgress.SingleBar({
    format:
      `${label} [{bar}] {percentage}% | {files} files | {mb} MB | {rate} MB/s | ETA {eta_formatted}`,
    stream: output.progressSink as NodeJS.WritableStream,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
    fps: 5,
  }, cliProgress.Presets.shades_classic);
  const clock = options.now ?? systemClock;
  const started = clock().getTime();
  let running = false;
  return {
    update(event) {
      const total = event.bytesTotal ?? Math.max(event.bytesDone, 1);
      const seconds = Math.max((clock().getTime() - started) / 1000, 0.001);
      const payload = {
        files: event.filesTotal === undefined
          ? `${event.filesDone}`
          : `${event.filesDone}/${event.filesTotal}`,
        mb: (event.bytesDone / 1e6).toFixed(1),
        rate: (event.bytesDone / 1e6 / seconds).toFixed(1),
      };
      if (!running) {
        bar.start(total, event.bytesDone, payload);
        running = true;
      } else {
        bar.setTotal(total);
        bar.update(event.bytesDone, payload);
      }
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

function createProgressLines(
  output: Output,
  label: string,
  options: CreateProgressOptions,
): Progress {
  const intervalMs = options.intervalMs ?? PROGRESS_LINE_INTERVAL_MS;
  const clock = options.now ?? systemClock;
  const now = () => clock().getTime();
  const started = now();
  let latest: ProgressEvent | undefined;
  let printedAt = -Infinity;
  let timer: ReturnType<typeof setInterval> | undefined;
  const print = () => {
    if (!latest) return;
    printedAt = now();
    output.info(progressLine(label, latest, (printedAt - started) / 1000));
  };
  return {
    update(event) {
      latest = event;
      if (now() - printedAt >= intervalMs) print();
      // A stalled transfer sends no events; the timer keeps the log saying so.
      timer ??= setInterval(() => {
        if (now() - printedAt >= intervalMs) print();
      }, intervalMs);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

/** `Cloning: 3/10 files, 1.2/8.4 MB, 0.6 MB/s, ETA 12 s` (totals and ETA when known). */
export function progressLine(label: string, event: ProgressEvent, seconds: number): string {
  const files = event.filesTotal === undefined
    ? `${event.filesDone} files`
    : `${event.filesDone}/${event.filesTotal} files`;
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const bytes = event.bytesTotal === undefined
    ? `${mb(event.bytesDone)} MB`
    : `${mb(event.bytesDone)}/${mb(event.bytesTotal)} MB`;
  const rate = seconds > 0 ? event.bytesDone / seconds : 0;
  const left = event.bytesTotal === undefined ? undefined : event.bytesTotal - event.bytesDone;
  const eta = left === undefined || rate <= 0 ? "" : `, ETA ${formatSeconds(left / rate)}`;
  return `${label}: ${files}, ${bytes}, ${mb(rate)} MB/s${eta}`;
}

function formatSeconds(seconds: number): string {
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${whole % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
