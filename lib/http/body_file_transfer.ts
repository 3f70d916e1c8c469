/**
 * A response body copied into a local file by the runtime itself (Bun: socket to file with no
 * JavaScript per chunk), under the same guards a streamed body gets from guardBody: the cap (the
 * announced Content-Length, checked against it before the transfer is offered; HTTP/1.1 reads
 * no further), the stall and slow-drip timeouts (watched through the file's growth) and
 * truncation. A bulk download (clone) spends about a quarter of the CPU this way.
 *
 * @module
 */
import { statSync } from "node:fs";
import { canWriteBodyToFile, writeBodyToFile } from "../runtime.ts";
import type { BodyFailure } from "./guard_body.ts";

/**
 * Writes the body into the file at `path` (created or truncated) and resolves with its length;
 * `onBytes` hears of the file's growth. Rejects with the body error of the policy that offered
 * it. Use it or the response's body, never both.
 */
export type FileTransfer = (path: string, onBytes?: (count: number) => void) => Promise<number>;

/** The guards a transfer keeps, as {@linkcode guardBody} does for a stream. */
export interface FileTransferGuard {
  idleMs: number;
  /** performance.now() time by which the whole body must be in. */
  deadline: number;
  /** The announced length: the file must end up exactly this long. */
  expectedBytes: number;
  /** Closes the connection (the transfer then rejects). */
  abort: () => void;
  toError: (failure: BodyFailure) => unknown;
}

/** How often the file's growth is looked at. */
const WATCH_MS = 200;

const offered = new WeakMap<Response, FileTransfer>();

/** The file transfer offered with `response`, if the runtime and the answer allow one. */
export function fileTransferOf(response: Response): FileTransfer | undefined {
  return offered.get(response);
}

/**
 * Offers `raw`'s body as a file transfer on `guarded` (the response handed to callers, whose
 * guarded stream must not have been read), where the runtime copies natively. The caller offers
 * it only for a whole body of announced, decoded length (no content coding: a decoded body could
 * outgrow the header's cap).
 */
export function offerFileTransfer(
  guarded: Response,
  raw: Response,
  guard: FileTransferGuard,
): void {
  if (!canWriteBodyToFile()) return;
  offered.set(guarded, (path, onBytes) => {
    offered.delete(guarded);
    return transfer(raw, path, guard, onBytes);
  });
}

async function transfer(
  raw: Response,
  path: string,
  guard: FileTransferGuard,
  onBytes: ((count: number) => void) | undefined,
): Promise<number> {
  let failure: BodyFailure | undefined;
  let reported = 0;
  let grewAt = performance.now();
  const report = (size: number) => {
    if (size <= reported) return;
    onBytes?.(size - reported);
    reported = size;
    grewAt = performance.now();
  };
  const watch = setInterval(() => {
    let size = reported;
    try {
      size = statSync(path).size;
    } catch {
      // Not created yet: no growth.
    }
    report(size);
    const now = performance.now();
    if (now > guard.deadline) failure ??= { kind: "too-slow", bytes: reported };
    else if (now - grewAt > guard.idleMs) failure ??= { kind: "stalled", idleMs: guard.idleMs };
    if (failure) guard.abort();
  }, WATCH_MS);
  let written: number;
  try {
    written = await writeBodyToFile(path, raw)!;
  } catch (error) {
    throw guard.toError(failure ?? { kind: "broken", error });
  } finally {
    clearInterval(watch);
  }
  if (failure) throw guard.toError(failure);
  if (written !== guard.expectedBytes) {
    throw guard.toError({ kind: "truncated", bytes: written, expected: guard.expectedBytes });
  }
  report(written);
  return written;
}
