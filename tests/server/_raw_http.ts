/**
 * A raw HTTP/1.x client over a TCP socket, for requests fetch() cannot send: no Host header,
 * dot segments and backslashes left as typed.
 *
 * @module
 */
import { connect } from "node:net";

/** A parsed answer: the status code, lower-cased headers and the body bytes. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Sends `request` (the request line and headers, CRLF-separated and ending in a blank line) and
 * reads until the server closes the connection, or `timeoutMs` passes.
 */
export function rawRequest(port: number, request: string, timeoutMs = 4_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No complete answer to ${JSON.stringify(request)} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(parse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
  });
}

function parse(bytes: Buffer): RawResponse {
  const end = bytes.indexOf("\r\n\r\n");
  if (end === -1) throw new Error(`Not an HTTP answer: ${JSON.stringify(bytes.toString())}`);
  const [statusLine = "", ...lines] = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers, body: bytes.subarray(end + 4) };
}
