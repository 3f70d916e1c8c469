/** What {@linkcode uploadParts} needs: where the parts come from and how one goes up. */
export interface PartUpload {
  /** The next part, or undefined at the end of the source. */
  next(): Promise<Uint8Array | undefined>;
  /** Uploads part `number` (from 1) and gives its ETag; rejects once `signal` aborts. */
  upload(number: number, bytes: Uint8Array, signal: AbortSignal): Promise<string>;
  /** How many parts may be on their way at once (at least 1). */
  concurrency: number;
  /** The caller's signal: aborting it stops the reading and the parts in flight. */
  signal?: AbortSignal | undefined;
}

/** The parts' ETags in part-number order (as CompleteMultipartUpload lists them), and their size. */
export interface UploadedParts {
  etags: string[];
  size: number;
}

/**
 * Uploads the parts of a multipart write, up to `concurrency` at once. The source is read only
 * while a slot is free, so at most `concurrency` parts are held in memory (backpressure on the
 * stream). The first failure, of the source or of a part, or the caller's abort, stops the rest:
 * the parts still in flight are aborted and waited for before it is thrown, so that aborting the
 * upload afterwards leaves no part behind that lands late.
 */
export async function uploadParts(parts: PartUpload): Promise<UploadedParts> {
  const stop = new AbortController();
  const signal = parts.signal ? AbortSignal.any([parts.signal, stop.signal]) : stop.signal;
  // Rejects on the first failure, so a read waiting on a stalled source gives way at once.
  const stopped = new Promise<never>((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  stopped.catch(() => {});
  const etags: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let size = 0;
  let number = 0;
  try {
    while (true) {
      while (inFlight.size >= Math.max(1, parts.concurrency)) await Promise.race(inFlight);
      signal.throwIfAborted();
      const reading = parts.next();
      reading.catch(() => {}); // a read outrun by a failure is not a failure of its own
      const bytes = await Promise.race([reading, stopped]);
      if (bytes === undefined) break;
      const index = number++;
      size += bytes.length;
      const uploading: Promise<void> = parts.upload(index + 1, bytes, signal).then(
        (etag) => void (etags[index] = etag),
        (error) => stop.abort(error),
      ).finally(() => inFlight.delete(uploading));
      inFlight.add(uploading);
    }
    await Promise.all(inFlight);
    signal.throwIfAborted();
    return { etags, size };
  } catch (error) {
    stop.abort(error);
    await Promise.all(inFlight);
    // The first failure is the cause; what it aborted afterwards only echoes it.
    throw signal.reason;
  }
}
