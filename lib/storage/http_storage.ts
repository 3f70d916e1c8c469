import {
  DownloadError,
  HttpStatusError,
  NotFoundError,
  StorageError,
  TooLargeError,
} from "../errors.ts";
import { abortableBody } from "./abortable_body.ts";
import { checkPath } from "./check_path.ts";
import type {
  FileStat,
  ReadOptions,
  RequestOptions,
  StorageReader,
  StoredObject,
} from "./storage.ts";

/** A fetch function; injected in tests so no test touches globalThis.fetch. */
export type FetchFn = (request: Request) => Promise<Response>;

/** Options for {@linkcode HttpStorage}. */
export interface HttpStorageOptions {
  fetch?: FetchFn;
  /**
   * Time allowed until response headers arrive, per attempt. A server that lets it pass is not
   * asked again (it is silent, not flaky). Default 10 s.
   */
  headersTimeoutMs?: number;
  /** Time allowed between two chunks of a body. Default 60 s. */
  idleTimeoutMs?: number;
  /**
   * The slowest transfer tolerated: with {@linkcode deadlineAllowanceMs} it sets every
   * request's overall deadline, retries included: allowance + bytes / rate, where bytes is the
   * read's cap (or the Content-Length, when smaller). A slow drip (one byte a second) on a
   * 1 KiB timestamp then fails after seconds, not hours. Default 16 KiB/s.
   */
  minBytesPerSecond?: number;
  /** The fixed part of every overall deadline (connecting, headers, retries). Default 15 s. */
  deadlineAllowanceMs?: number;
  /** Extra attempts after a transient failure (network error, 429, 502, 503, 504). Default 3. */
  retries?: number;
  /** Base delay between attempts; doubles each time. Default 250 ms. */
  retryDelayMs?: number;
  /** Cap for any single read when the caller gives none. Default 64 GiB. */
  maxBytesPerRead?: number;
  userAgent?: string;
}

const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * A read-only mirror over HTTP(S): GET and HEAD, single Range, timeouts, bounded retries on
 * transient failures, and a byte cap on every read. 404 (and 410) become NotFoundError; any other
 * non-2xx becomes HttpStatusError. It implements only StorageReader (no write, no delete, no
 * list: an HTTP mirror has no index), so the type checker refuses a remote mirror where
 * something will be written or listed.
 */
export class HttpStorage implements StorageReader {
  readonly location: string;
  readonly #fetch: FetchFn;
  readonly #headersTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #minBytesPerSecond: number;
  readonly #deadlineAllowanceMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #maxBytesPerRead: number;
  readonly #userAgent: string;

  constructor(baseUrl: string, options: HttpStorageOptions = {}) {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`Cannot read a mirror over "${url.protocol}": use http or https`);
    }
    url.search = "";
    url.hash = "";
    this.location = url.href.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? ((request) => fetch(request));
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#minBytesPerSecond = options.minBytesPerSecond ?? 16 * 1024;
    this.#deadlineAllowanceMs = options.deadlineAllowanceMs ?? 15_000;
    this.#retries = options.retries ?? 3;
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.#maxBytesPerRead = options.maxBytesPerRead ?? 64 * 2 ** 30;
    this.#userAgent = options.userAgent ?? "ferry";
  }

  /** The URL a storage path is fetched from. */
  urlFor(path: string): string {
    checkPath(path);
    return `${this.location}/${path.split("/").map(encodeURIComponent).join("/")}`;
  }

  async stat(path: string, options: RequestOptions = {}): Promise<FileStat> {
    const { response } = await this.#request(path, "HEAD", {
      headers: {},
      deadline: this.#deadline(0),
      signal: options.signal,
    });
    await response.body?.cancel();
    // Number(null) is 0: a missing header must not read as an empty file.
    const header = response.headers.get("content-length");
    const size = header === null || header.trim() === "" ? NaN : Number(header);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new StorageError(
        `Cannot stat "${this.urlFor(path)}": the server sent no Content-Length`,
      );
    }
    return { path, size, modified: lastModified(response) };
  }

  async read(path: string, options: ReadOptions = {}): Promise<StoredObject> {
    const limit = Math.min(options.maxBytes ?? Infinity, this.#maxBytesPerRead);
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end}`;
    const started = performance.now();
    const { response, abort } = await this.#request(path, "GET", {
      headers,
      deadline: this.#deadline(limit, started),
      signal: options.signal,
    });
    if (options.range && response.status !== 206) {
      await response.body?.cancel();
      throw new DownloadError(
        `Cannot read a range of "${this.urlFor(path)}": the server ignored the Range header`,
      );
    }
    const declared = response.headers.get("content-length");
    const length = declared === null ? undefined : Number(declared);
    const total = totalSize(response) ?? length;
    if (length !== undefined && length > limit) {
      await response.body?.cancel();
      throw new TooLargeError(this.urlFor(path), limit);
    }
    // The caller's signal also reaches a body that no network connection backs (an in-process
    // server), not only the fetch.
    const body = abortableBody(response.body ?? new Blob([]).stream(), options.signal);
    const deadline = this.#deadline(Math.min(limit, length ?? Infinity), started);
    return {
      stat: { path, size: total ?? -1, modified: lastModified(response) },
      body: toStream(body).pipeThrough(guardBody(this.urlFor(path), limit, length, {
        idleMs: this.#idleTimeoutMs,
        deadline,
        minBytesPerSecond: this.#minBytesPerSecond,
        abort,
      })),
    };
  }

  /** When a transfer of `bytes` begun at `started` must be done (performance.now() time). */
  #deadline(bytes: number, started = performance.now()): number {
    return started + this.#deadlineAllowanceMs + (bytes / this.#minBytesPerSecond) * 1000;
  }

  async #request(
    path: string,
    method: string,
    { headers, deadline, signal }: {
      headers: Record<string, string>;
      deadline: number;
      signal: AbortSignal | undefined;
    },
  ): Promise<{ response: Response; abort: () => void }> {
    const url = this.urlFor(path);
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      signal?.throwIfAborted();
      if (attempt > 0) {
        const delay = this.#retryDelayMs * 2 ** (attempt - 1);
        if (performance.now() + delay >= deadline) break;
        await sleep(delay, signal);
      }
      const wait = Math.min(this.#headersTimeoutMs, deadline - performance.now());
      if (wait <= 0) break;
      const controller = new AbortController();
      // The caller's signal stops this attempt and, through the same controller, its body.
      signal?.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
      const timer = setTimeout(() => controller.abort(), wait);
      let response: Response;
      try {
        response = await this.#fetch(
          new Request(url, {
            method,
            headers: { "user-agent": this.#userAgent, ...headers },
            signal: controller.signal,
            redirect: "follow",
          }),
        );
      } catch (error) {
        signal?.throwIfAborted();
        if (controller.signal.aborted) {
          // Silent, not flaky: asking again would multiply the wait by the retries.
          lastError = new DownloadError(
            `Cannot fetch "${url}": no answer within ${seconds(wait)} s`,
          );
          break;
        }
        lastError = new DownloadError(
          `Cannot fetch "${url}": ${(error as Error)?.message ?? error}`,
          { cause: error },
        );
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (response.status === 404 || response.status === 410) {
        await response.body?.cancel();
        throw new NotFoundError(path);
      }
      if (response.ok) return { response, abort: () => controller.abort() };
      await response.body?.cancel();
      lastError = new HttpStatusError(url, response.status);
      if (!TRANSIENT_STATUSES.has(response.status)) break;
    }
    throw lastError ?? new DownloadError(
      `Cannot fetch "${url}": no answer before its deadline (${
        seconds(this.#deadlineAllowanceMs)
      } s)`,
    );
  }
}

function toStream(body: ReadableStream<Uint8Array> | Blob): ReadableStream<Uint8Array> {
  return body instanceof Blob ? body.stream() : body;
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function lastModified(response: Response): Date {
  const header = response.headers.get("last-modified");
  const date = header ? new Date(header) : new Date(0);
  return Number.isNaN(date.getTime()) ? new Date(0) : date;
}

function totalSize(response: Response): number | undefined {
  const range = response.headers.get("content-range");
  const total = range ? /\/(\d+)$/.exec(range)?.[1] : undefined;
  return total === undefined ? undefined : Number(total);
}

interface BodyLimits {
  /** Longest wait for the next chunk. */
  idleMs: number;
  /** performance.now() time by which the whole body must be in. */
  deadline: number;
  /** For the message: the rate the deadline was derived from. */
  minBytesPerSecond: number;
  /** Closes the connection once the body has failed. */
  abort: () => void;
}

/**
 * Passes bytes through while enforcing the cap, detecting truncation (fewer bytes than
 * Content-Length said), stalls (no chunk within the idle timeout) and slow drips (the whole
 * body not in by its deadline).
 */
function guardBody(url: string, limit: number, expected: number | undefined, body: BodyLimits) {
  let seen = 0;
  let idle: ReturnType<typeof setTimeout> | undefined;
  let overall: ReturnType<typeof setTimeout> | undefined;
  let failed: ((reason: unknown) => void) | undefined;
  const stop = () => {
    clearTimeout(idle);
    clearTimeout(overall);
  };
  const fail = (error: Error) => {
    stop();
    failed?.(error);
    body.abort();
  };
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => fail(new DownloadError(`Cannot fetch "${url}": stalled for ${seconds(body.idleMs)} s`)),
      body.idleMs,
    );
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      failed = (reason) => controller.error(reason);
      arm();
      const remaining = body.deadline - performance.now();
      // Beyond what a timer can hold (an uncapped read of unknown length): only the idle
      // timeout applies.
      if (remaining < 2 ** 31 - 1) {
        overall = setTimeout(
          () =>
            fail(
              new DownloadError(
                `Cannot fetch "${url}": ${seen} bytes in, and the transfer is slower than ` +
                  `the ${body.minBytesPerSecond} bytes/s allowed`,
              ),
            ),
          Math.max(0, remaining),
        );
      }
    },
    transform(chunk, controller) {
      arm();
      seen += chunk.length;
      if (seen > limit) {
        stop();
        controller.error(new TooLargeError(url, limit));
        return;
      }
      controller.enqueue(chunk);
    },
    flush(controller) {
      stop();
      if (expected !== undefined && seen !== expected) {
        controller.error(
          new DownloadError(
            `Cannot fetch "${url}": the transfer ended after ${seen} of ${expected} bytes`,
          ),
        );
      }
    },
    cancel() {
      stop();
    },
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
