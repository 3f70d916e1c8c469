import {
  DownloadError,
  HttpStatusError,
  NotFoundError,
  ReadOnlyError,
  StorageError,
  TooLargeError,
} from "../errors.ts";
import { checkPath, checkPrefix } from "./check_path.ts";
import type { FileStat, ReadOptions, StorageReader, StoredObject } from "./storage.ts";

/** A fetch function; injected in tests so no test touches globalThis.fetch. */
export type FetchFn = (request: Request) => Promise<Response>;

/** Options for {@linkcode HttpStorage}. */
export interface HttpStorageOptions {
  fetch?: FetchFn;
  /** Time allowed until response headers arrive, per attempt. Default 30 s. */
  headersTimeoutMs?: number;
  /** Time allowed between two chunks of a body. Default 60 s. */
  idleTimeoutMs?: number;
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
 * non-2xx becomes HttpStatusError. It implements only StorageReader, so a remote mirror cannot
 * be passed where something will be written.
 */
export class HttpStorage implements StorageReader {
  readonly location: string;
  readonly #fetch: FetchFn;
  readonly #headersTimeoutMs: number;
  readonly #idleTimeoutMs: number;
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
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
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

  async stat(path: string): Promise<FileStat> {
    const response = await this.#request(path, "HEAD", {});
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
    const response = await this.#request(path, "GET", headers);
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
    const body = response.body ?? new Blob([]).stream();
    return {
      stat: { path, size: total ?? -1, modified: lastModified(response) },
      body: body.pipeThrough(guardBody(this.urlFor(path), limit, length, this.#idleTimeoutMs)),
    };
  }

  // deno-lint-ignore require-yield
  async *list(prefix: string): AsyncIterable<FileStat> {
    checkPrefix(prefix);
    throw new StorageError(`Cannot list "${this.location}": HTTP mirrors cannot be listed`);
  }

  /** HTTP mirrors are read-only; this exists so the error is clear if anything tries. */
  write(): Promise<never> {
    return Promise.reject(
      new ReadOnlyError(`Cannot write to "${this.location}": HTTP mirrors are read-only`),
    );
  }

  async #request(path: string, method: string, headers: Record<string, string>): Promise<Response> {
    const url = this.urlFor(path);
    const started = Date.now();
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      if (attempt > 0) await sleep(this.#retryDelayMs * 2 ** (attempt - 1));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.#headersTimeoutMs);
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
        lastError = controller.signal.aborted
          ? new DownloadError(
            // Say what really happened: each attempt waited this long, and they add up.
            `Cannot fetch "${url}": no answer within ${this.#headersTimeoutMs / 1000} s ` +
              `(${attempt + 1} attempt(s), ${Math.round((Date.now() - started) / 1000)} s in all)`,
          )
          : new DownloadError(`Cannot fetch "${url}": ${(error as Error)?.message ?? error}`, {
            cause: error,
          });
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (response.status === 404 || response.status === 410) {
        await response.body?.cancel();
        throw new NotFoundError(path);
      }
      if (response.ok) return response;
      await response.body?.cancel();
      lastError = new HttpStatusError(url, response.status);
      if (!TRANSIENT_STATUSES.has(response.status)) break;
    }
    throw lastError;
  }
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

/**
 * Passes bytes through while enforcing the cap, detecting truncation (fewer bytes than
 * Content-Length said) and stalls (no chunk within the idle timeout).
 */
function guardBody(url: string, limit: number, expected: number | undefined, idleMs: number) {
  let seen = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed: ((reason: unknown) => void) | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => failed?.(new DownloadError(`Cannot fetch "${url}": stalled for ${idleMs / 1000} s`)),
      idleMs,
    );
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      failed = (reason) => controller.error(reason);
      arm();
    },
    transform(chunk, controller) {
      arm();
      seen += chunk.length;
      if (seen > limit) {
        clearTimeout(timer);
        controller.error(new TooLargeError(url, limit));
        return;
      }
      controller.enqueue(chunk);
    },
    flush(controller) {
      clearTimeout(timer);
      if (expected !== undefined && seen !== expected) {
        controller.error(
          new DownloadError(
            `Cannot fetch "${url}": the transfer ended after ${seen} of ${expected} bytes`,
          ),
        );
      }
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
