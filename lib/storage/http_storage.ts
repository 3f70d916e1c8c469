import { DownloadError, HttpStatusError, NotFoundError, StorageError } from "../errors.ts";
import { abortableBody } from "./abortable_body.ts";
import { checkPath } from "./check_path.ts";
import type {
  FileStat,
  ReadOptions,
  RequestOptions,
  StorageReader,
  StoredObject,
} from "./storage.ts";
import type { FetchLike } from "../http/fetch_like.ts";
import { downloadErrors } from "../http/download_errors.ts";
import {
  decodedLength,
  DEFAULT_FETCH_POLICY,
  type FetchPolicy,
  fetchWithPolicy,
} from "../http/fetch_policy.ts";
import { type FileTransfer, fileTransferOf } from "../http/body_file_transfer.ts";

/** A fetch function; injected in tests so no test touches globalThis.fetch. */
export type FetchFn = (request: Request) => Promise<Response>;

/** Options for {@linkcode HttpStorage}; the limits are lib/http/fetch_policy.ts's. */
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
  /** Extra attempts after a transient failure (network error, 408, 429, 502, 503, 504). Default 3. */
  retries?: number;
  /** Base delay between attempts; doubles each time. Default 250 ms. */
  retryDelayMs?: number;
  /** Cap for any single read when the caller gives none. Default 64 GiB. */
  maxBytesPerRead?: number;
  userAgent?: string;
}

/**
 * A read-only mirror over HTTP(S): GET and HEAD, single Range, timeouts, bounded retries on
 * transient failures, and a byte cap on every read. 404 (and 410) become NotFoundError; any other
 * non-2xx becomes HttpStatusError. It implements only StorageReader (no write, no delete, no
 * list: an HTTP mirror has no index), so the type checker refuses a remote mirror where
 * something will be written or listed.
 */
export class HttpStorage implements StorageReader {
  readonly location: string;
  readonly #fetch: FetchLike;
  readonly #policy: FetchPolicy;
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
    const given = options.fetch;
    this.#fetch = given
      ? (input, init) => given(new Request(input, init))
      : (input, init) => fetch(input, init);
    const defaults = DEFAULT_FETCH_POLICY;
    this.#policy = {
      headersTimeoutMs: options.headersTimeoutMs ?? defaults.headersTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? defaults.idleTimeoutMs,
      minBytesPerSecond: options.minBytesPerSecond ?? defaults.minBytesPerSecond,
      deadlineAllowanceMs: options.deadlineAllowanceMs ?? defaults.deadlineAllowanceMs,
      retries: options.retries ?? defaults.retries,
      retryDelayMs: options.retryDelayMs ?? defaults.retryDelayMs,
    };
    this.#maxBytesPerRead = options.maxBytesPerRead ?? 64 * 2 ** 30;
    this.#userAgent = options.userAgent ?? "ferry";
  }

  /** The URL a storage path is fetched from. */
  urlFor(path: string): string {
    checkPath(path);
    return `${this.location}/${path.split("/").map(encodeURIComponent).join("/")}`;
  }

  async stat(path: string, options: RequestOptions = {}): Promise<FileStat> {
    const response = await this.#request(path, "HEAD", {}, 0, options.signal);
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
    const response = await this.#request(path, "GET", headers, limit, options.signal);
    if (options.range && response.status !== 206) {
      await response.body?.cancel();
      throw new DownloadError(
        `Cannot read a range of "${this.urlFor(path)}": the server ignored the Range header`,
      );
    }
    const total = totalSize(response) ?? decodedLength(response);
    return {
      stat: { path, size: total ?? -1, modified: lastModified(response) },
      // The caller's signal also reaches a body that no network connection backs (an
      // in-process server), not only the fetch.
      body: abortableBody(response.body ?? new Blob([]).stream(), options.signal),
      ...transferOf(response),
    };
  }

  /** One request under the fetch policy; 404/410 → NotFoundError, other non-2xx → HttpStatusError. */
  async #request(
    path: string,
    method: "GET" | "HEAD",
    headers: Record<string, string>,
    maxBytes: number,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const url = this.urlFor(path);
    const response = await fetchWithPolicy(
      this.#fetch,
      url,
      {
        method,
        headers: { "user-agent": this.#userAgent, ...headers },
        redirect: "follow",
      },
      this.#policy,
      { maxBytes, ...(signal ? { signal } : {}), errors: downloadErrors(url, this.#policy) },
    );
    if (response.ok) return response;
    await response.body?.cancel();
    if (response.status === 404 || response.status === 410) throw new NotFoundError(path);
    throw new HttpStatusError(url, response.status);
  }
}

function transferOf(response: Response): { toFile?: FileTransfer } {
  const toFile = fileTransferOf(response);
  return toFile ? { toFile } : {};
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
