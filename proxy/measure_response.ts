/** What {@linkcode measureResponse} reports once a response is over. */
export interface ResponseMeasure {
  /** Body bytes that reached the client. */
  bytes: number;
  /** False when the body broke off or the client went away before the end. */
  complete: boolean;
}

/**
 * Wraps `response` so that `onDone` runs once its body has been sent to the last byte (or
 * failed, or was cancelled by the client), with the bytes that went out: an access log that
 * reads the time and Content-Length when the headers are ready records 0 s for a 50 MB blob
 * and 0 bytes for a JSON body without Content-Length. A response without a body is done at once.
 */
export function measureResponse(
  response: Response,
  onDone: (measure: ResponseMeasure) => void,
): Response {
  if (!response.body) {
    onDone({ bytes: 0, complete: true });
    return response;
  }
  let bytes = 0;
  let finished = false;
  const finish = (complete: boolean) => {
    if (finished) return;
    finished = true;
    onDone({ bytes, complete });
  };
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush() {
        finish(true);
      },
      cancel() {
        finish(false);
      },
    } as Transformer<Uint8Array, Uint8Array>),
  );
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
