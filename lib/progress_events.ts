/**
 * What long-running lib operations (clone, merge, verify) report through their `onProgress`
 * callback. It sits at the top of lib, not in the CLI folder, so that operations depend on no
 * display: the CLI's progress bar is one renderer of these events, a server or a test another.
 *
 * @module
 */

/** One progress report: counts so far, totals when known. */
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
