import cliProgress from "cli-progress";
import type { Output } from "./output.ts";

/** What long-running lib operations report through their `onProgress` callback. */
export interface ProgressEvent {
  /** Files finished so far, and how many there are in all (when known). */
  filesDone: number;
  filesTotal?: number;
  /** Bytes transferred so far, and how many there are in all (when known). */
  bytesDone: number;
  bytesTotal?: number;
  /** What is being worked on now, for the display only. */
  current?: string;
}

/** A progress display: draws on a terminal, does nothing otherwise. */
export interface Progress {
  update(event: ProgressEvent): void;
  stop(): void;
}

/**
 * Creates a progress display for `label`. On a TTY it draws a bar with files, bytes, rate and
 * ETA (cli-progress does the drawing); in pipes and CI it stays silent, so logs stay readable.
 */
export function createProgress(output: Output, label: string): Progress {
  if (!output.interactive || output.quiet) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    format:
      `${label} [{bar}] {percentage}% | {files} files | {mb} MB | {rate} MB/s | ETA {eta_formatted}`,
    stream: output.progressSink as NodeJS.WritableStream,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
    fps: 5,
  }, cliProgress.Presets.shades_classic);
  const started = Date.now();
  let running = false;
  return {
    update(event) {
      const total = event.bytesTotal ?? Math.max(event.bytesDone, 1);
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
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
