/**
 * A body that fails with `signal`'s reason once it is aborted: for backends whose bodies do not
 * watch a signal themselves (a file stream, an in-memory Blob). Without a signal the body is
 * returned as it is, so a file Blob still reaches the server as a Blob (Bun sends it with
 * sendfile).
 *
 * @example
 * const body = abortableBody(fileBody(file, 0, size - 1), options.signal);
 */
export function abortableBody(
  body: ReadableStream<Uint8Array> | Blob,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> | Blob {
  if (signal === undefined) return body;
  const source = body instanceof Blob ? body.stream() : body;
  const reader = source.getReader();
  let onAbort = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      onAbort = () => {
        controller.error(signal.reason);
        reader.cancel(signal.reason).catch(() => {});
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (signal.aborted) return;
        if (done) {
          signal.removeEventListener("abort", onAbort);
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        signal.removeEventListener("abort", onAbort);
        if (!signal.aborted) controller.error(error);
      }
    },
    cancel(reason) {
      signal.removeEventListener("abort", onAbort);
      return reader.cancel(reason);
    },
  });
}
