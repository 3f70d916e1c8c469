import { AwsClient } from "aws4fetch";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import {
  AlreadyExistsError,
  DownloadError,
  NotFoundError,
  StorageError,
  TooLargeError,
} from "../errors.ts";
import { fetchTrustingCa } from "../runtime.ts";
import { checkPath, checkPrefix } from "./check_path.ts";
import { bodyStream, collectBytes } from "./read_bytes.ts";
import { fetchWithPolicy, type S3Answer, type S3FetchFn, type S3FetchPolicy } from "./_s3_fetch.ts";
import { uploadParts } from "./_upload_parts.ts";
import { xmlBlocks, xmlElement, xmlEscape } from "./_s3_xml.ts";
import type { S3Config } from "./s3_config.ts";
import type { S3Location } from "./s3_location.ts";
import type {
  FileStat,
  PresignOptions,
  PresignStorage,
  ReadOptions,
  ReplaceIfMatchStorage,
  RequestOptions,
  Storage,
  StoredObject,
  SweepOptions,
  WriteData,
  WriteOptions,
} from "./storage.ts";

/** Options for {@linkcode S3Storage}. */
export interface S3StorageOptions {
  /** Where and how to sign, or how to find out on first use (`loadS3Config(env)`). */
  config: S3Config | (() => Promise<S3Config>);
  /** Injected in tests; default: fetch, trusting the config's CA bundle if it has one. */
  fetch?: S3FetchFn;
  /**
   * Objects up to this size go up in one PUT; larger streams as a multipart upload of parts
   * this size (S3's minimum part is 5 MiB). Default 8 MiB.
   */
  partBytes?: number;
  /**
   * How many parts of a multipart write go up at once. The source is read no further ahead, so
   * a write holds about this many times `partBytes` in memory. Default 4.
   */
  partsInFlight?: number;
  /**
   * The largest `ifAbsent` write. A conditional create must be one PUT (Ceph pacific ignores
   * `If-None-Match` on CompleteMultipartUpload), so such data is held in memory. Default 64 MiB.
   */
  maxConditionalBytes?: number;
  /**
   * The largest object `copy` copies on the server: S3's CopyObject takes at most 5 GiB, so a
   * larger one is streamed through instead (read, then written in parts). Default 5 GiB.
   */
  maxCopyBytes?: number;
  /** Time allowed until response headers arrive, per attempt. Default 30 s. */
  headersTimeoutMs?: number;
  /** Time allowed between two chunks of a response body. Default 60 s. */
  idleTimeoutMs?: number;
  /** The slowest upload tolerated, for a PUT's time allowance. Default 64 KiB/s. */
  minBytesPerSecond?: number;
  /** Extra attempts after a transient failure. Default 3. */
  retries?: number;
  /** Base delay between attempts; doubles each time. Default 250 ms. */
  retryDelayMs?: number;
}

interface Connection {
  client: AwsClient;
  config: S3Config;
  policy: S3FetchPolicy;
}

interface SendOptions {
  query?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal | undefined;
  what: string;
  /** Called before each attempt is sent, with its number (1 for the first). */
  onAttempt?: (attempt: number) => void;
}

const MIB = 1024 * 1024;
/** S3 CopyObject copies objects up to 5 GiB; larger ones need a multipart copy. */
const MAX_COPY_OBJECT_BYTES = 5 * 1024 * MIB;

/**
 * Storage in an S3 bucket under a key prefix (`s3://BUCKET/PREFIX`): AWS S3, Ceph RADOS Gateway,
 * MinIO, R2. Requests are signed with SigV4 (aws4fetch), path-style for custom endpoints.
 *
 * - A write is one PUT, or for streams larger than `partBytes` a multipart upload that only
 *   becomes visible when completed: readers see the old object or the new one. Up to
 *   `partsInFlight` parts go up at once, and the source is read no further ahead. A failed or
 *   aborted multipart upload is aborted on the server; uploads of a killed process are removed
 *   by {@linkcode S3Storage.sweepTempFiles}.
 * - `ifAbsent` is `If-None-Match: *` on a single PUT (a 412 is AlreadyExistsError).
 * - Every request is bounded in time and retried only when the failure is transient.
 * - A missing key is NotFoundError; so is a "directory" (S3 has none).
 */
export class S3Storage implements Storage, ReplaceIfMatchStorage, PresignStorage {
  readonly location: string;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #options: S3StorageOptions;
  readonly #partBytes: number;
  readonly #maxConditionalBytes: number;
  readonly #partsInFlight: number;
  #connection: Promise<Connection> | undefined;
  /** Whether the server matches `If-Match` against the bare ETag; undefined until known. */
  #bareIfMatch: boolean | undefined;

  constructor(where: S3Location, options: S3StorageOptions) {
    this.#bucket = where.bucket;
    this.#prefix = where.prefix;
    this.location = `s3://${where.bucket}/${where.prefix}`.replace(/\/$/, "");
    this.#options = options;
    this.#partBytes = options.partBytes ?? 8 * MIB;
    if (this.#partBytes < 5 * MIB) {
      throw new RangeError("S3 multipart parts must be at least 5 MiB");
    }
    this.#maxConditionalBytes = options.maxConditionalBytes ?? 64 * MIB;
    this.#partsInFlight = options.partsInFlight ?? 4;
    if (!(Number.isSafeInteger(this.#partsInFlight) && this.#partsInFlight >= 1)) {
      throw new RangeError("S3 parts in flight must be a whole number of at least 1");
    }
  }

  async stat(path: string, options: RequestOptions = {}): Promise<FileStat> {
    checkPath(path);
    const answer = await this.#send("HEAD", path, {
      signal: options.signal,
      what: `stat "${this.#describe(path)}"`,
    });
    await answer.body.cancel().catch(() => {});
    if (answer.response.status === 404) throw new NotFoundError(path);
    if (!answer.response.ok) throw await this.#failure(answer, `stat "${this.#describe(path)}"`);
    return statOf(path, answer.response, lengthOf(answer.response));
  }

  async read(path: string, options: ReadOptions = {}): Promise<StoredObject> {
    checkPath(path);
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end}`;
    const what = `read "${this.#describe(path)}"`;
    const answer = await this.#send("GET", path, { headers, signal: options.signal, what });
    const { response } = answer;
    if (response.status === 404) {
      await answer.body.cancel().catch(() => {});
      throw new NotFoundError(path);
    }
    if (!response.ok) throw await this.#failure(answer, what);
    if (options.range && response.status !== 206) {
      await answer.body.cancel().catch(() => {});
      throw new DownloadError(`Cannot ${what}: the server ignored the Range header`);
    }
    const length = lengthOf(response);
    const total = totalOf(response) ?? length;
    if (options.maxBytes !== undefined && total > options.maxBytes) {
      await answer.body.cancel().catch(() => {});
      throw new TooLargeError(path, options.maxBytes);
    }
    return {
      stat: statOf(path, response, total),
      body: answer.body.pipeThrough(expectLength(length, what)),
    };
  }

  async *list(prefix: string, options: RequestOptions = {}): AsyncIterable<FileStat> {
    checkPrefix(prefix);
    let token: string | undefined;
    do {
      const query = [
        "list-type=2",
        `prefix=${encodeQuery(this.#prefix + prefix)}`,
        "encoding-type=url",
        ...(token === undefined ? [] : [`continuation-token=${encodeQuery(token)}`]),
      ].join("&");
      const what = `list "${this.location}/${prefix}"`;
      const xml = await this.#xml("GET", undefined, { query, signal: options.signal, what });
      for (const entry of xmlBlocks(xml, "Contents")) {
        const key = decodeURIComponent(xmlElement(entry, "Key") ?? "");
        const path = key.slice(this.#prefix.length);
        // Keys other tools put in the bucket that ferry could never name are not ours to list.
        if (!key.startsWith(this.#prefix) || !isPath(path)) continue;
        yield {
          path,
          size: Number(xmlElement(entry, "Size") ?? NaN),
          modified: new Date(xmlElement(entry, "LastModified") ?? 0),
          identity: xmlElement(entry, "ETag") ?? "",
        };
      }
      token = xmlElement(xml, "IsTruncated") === "true"
        ? xmlElement(xml, "NextContinuationToken")
        : undefined;
    } while (token !== undefined);
  }

  async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<FileStat> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const parts = new PartReader(
      typeof data === "string" ? new TextEncoder().encode(data) : data,
      this.#partBytes,
      options.signal,
    );
    try {
      if (options.ifAbsent) {
        const bytes = await parts.all(this.#maxConditionalBytes, this.#describe(path));
        return await this.#put(path, bytes, options);
      }
      // Held in one array that the upload empties, so a part sent is a part let go.
      const head = [await parts.next(), await parts.next()];
      if (head[1] === undefined) return await this.#put(path, head[0] ?? new Uint8Array(), options);
      return await this.#multipart(path, head as Uint8Array[], parts, options);
    } catch (error) {
      await parts.cancel(error);
      throw error;
    }
  }

  async delete(path: string, options: RequestOptions = {}): Promise<void> {
    // S3 answers 204 for a missing key too: the stat gives the NotFoundError the contract wants.
    await this.stat(path, options);
    const what = `delete "${this.#describe(path)}"`;
    const answer = await this.#send("DELETE", path, { signal: options.signal, what });
    if (!answer.response.ok) throw await this.#failure(answer, what);
    await answer.body.cancel().catch(() => {});
  }

  /**
   * `If-Match` on one PUT: the server compares the ETag and writes in one atomic step. Ceph
   * pacific matches only the bare ETag (`abc`), AWS the quoted one (`"abc"`): the form that
   * works is learnt from the first swap whose 412 was not a real mismatch.
   */
  async replaceIfMatch(
    path: string,
    data: Uint8Array | string,
    identity: string,
    options: RequestOptions = {},
  ): Promise<FileStat | undefined> {
    checkPath(path);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const bare = identity.replace(/^"(.*)"$/, "$1");
    const forms = this.#bareIfMatch === true
      ? [bare]
      : this.#bareIfMatch === false
      ? [`"${bare}"`]
      : [`"${bare}"`, bare];
    for (const [i, form] of forms.entries()) {
      const stat = await this.#putIfMatch(path, bytes, form, options);
      if (stat) {
        this.#bareIfMatch = form === bare;
        return stat;
      }
      // A 412: a real mismatch, unless the object still has that ETag (the form was wrong).
      if (i === forms.length - 1) return undefined;
      const current = await this.stat(path, options).catch(() => undefined);
      if (current?.identity?.replace(/^"(.*)"$/, "$1") !== bare) return undefined;
    }
    return undefined;
  }

  async #putIfMatch(
    path: string,
    bytes: Uint8Array,
    etag: string,
    options: RequestOptions,
  ): Promise<FileStat | undefined> {
    const what = `replace "${this.#describe(path)}"`;
    const answer = await this.#send("PUT", path, {
      headers: { "if-match": etag },
      body: bytes,
      signal: options.signal,
      what,
    });
    if (!answer.response.ok && answer.response.status !== 412 && answer.response.status !== 404) {
      throw await this.#failure(answer, what);
    }
    await answer.body.cancel().catch(() => {});
    if (!answer.response.ok) return undefined;
    return {
      path,
      size: bytes.length,
      modified: dateHeader(answer.response),
      identity: answer.response.headers.get("etag") ?? "",
    };
  }

  /**
   * A GET URL for `path` signed in its query (SigV4 `X-Amz-*` parameters, path-style for custom
   * endpoints, as every request), valid for `expiresInSeconds` (S3 allows 1 s to 7 days).
   */
  async presignGet(path: string, options: PresignOptions): Promise<string> {
    checkPath(path);
    const seconds = Math.round(options.expiresInSeconds);
    if (!(seconds >= 1 && seconds <= 604_800)) {
      throw new RangeError("A presigned S3 URL must expire in 1 s to 7 days");
    }
    const connection = await this.#connect();
    const url = new URL(this.#url(path, undefined, connection));
    if (options.origin !== undefined) {
      const origin = new URL(options.origin);
      url.protocol = origin.protocol;
      url.host = origin.host;
    }
    url.searchParams.set("X-Amz-Expires", String(seconds));
    const signed = await connection.client.sign(url.href, {
      method: "GET",
      aws: { signQuery: true },
    });
    return signed.url;
  }

  /**
   * A server-side copy: the bytes do not pass through ferry. Above `maxCopyBytes` (S3's 5 GiB
   * CopyObject limit) the object is streamed through instead, as a multipart write.
   */
  async copy(from: string, to: string): Promise<FileStat> {
    checkPath(from);
    checkPath(to);
    if ((await this.stat(from)).size > (this.#options.maxCopyBytes ?? MAX_COPY_OBJECT_BYTES)) {
      return await this.write(to, bodyStream(await this.read(from)));
    }
    const what = `copy "${this.#describe(from)}" to "${this.#describe(to)}"`;
    const source = `/${this.#bucket}/${encodeKey(this.#prefix + from)}`;
    const answer = await this.#send("PUT", to, { headers: { "x-amz-copy-source": source }, what });
    if (answer.response.status === 404) {
      await answer.body.cancel().catch(() => {});
      throw new NotFoundError(from);
    }
    if (!answer.response.ok) throw await this.#failure(answer, what);
    // A copy can fail after its 200 has been sent: the error is then in the body.
    const text = await new Response(answer.body).text();
    if (text.includes("<Error>")) throw errorFromXml(text, what);
    return await this.stat(to);
  }

  /**
   * Aborts the multipart uploads under this prefix begun before `before` (those of a killed
   * writer: a live writer's are newer), so no orphaned parts keep costing storage. Returns
   * their paths.
   */
  async sweepTempFiles(options: SweepOptions): Promise<string[]> {
    const swept: string[] = [];
    let markers = "";
    while (true) {
      const query = `prefix=${encodeQuery(this.#prefix)}&uploads=${markers}`;
      const what = `list the unfinished uploads in "${this.location}"`;
      const xml = await this.#xml("GET", undefined, { query, what });
      for (const upload of xmlBlocks(xml, "Upload")) {
        const key = xmlElement(upload, "Key") ?? "";
        const id = xmlElement(upload, "UploadId") ?? "";
        const initiated = new Date(xmlElement(upload, "Initiated") ?? 0);
        if (!key.startsWith(this.#prefix) || initiated >= options.before) continue;
        const path = key.slice(this.#prefix.length);
        await this.#abortUpload(path, id);
        swept.push(path);
      }
      if (xmlElement(xml, "IsTruncated") !== "true") return swept;
      markers = `&key-marker=${encodeQuery(xmlElement(xml, "NextKeyMarker") ?? "")}` +
        `&upload-id-marker=${encodeQuery(xmlElement(xml, "NextUploadIdMarker") ?? "")}`;
    }
  }

  // --- writing -------------------------------------------------------------------------------

  async #put(path: string, bytes: Uint8Array, options: WriteOptions): Promise<FileStat> {
    const what = `write "${this.#describe(path)}"`;
    const headers: Record<string, string> = {};
    if (options.ifAbsent) headers["if-none-match"] = "*";
    let attempts = 0;
    for (let conflicts = 0;; conflicts++) {
      const answer = await this.#send("PUT", path, {
        headers,
        body: bytes,
        signal: options.signal,
        what,
        onAttempt: (n) => (attempts = n),
      });
      const { status } = answer.response;
      if (status === 412 && options.ifAbsent) {
        await answer.body.cancel().catch(() => {});
        // An attempt whose answer was lost may have created the object itself: then its ETag
        // is the MD5 of these bytes, and the write succeeded.
        if (attempts > 1 && await this.#holds(path, bytes, options.signal)) break;
        throw new AlreadyExistsError(path);
      }
      // AWS: another conditional write of the same key is in flight; its outcome decides.
      if (status === 409 && options.ifAbsent && conflicts < 5) {
        await answer.body.cancel().catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** conflicts));
        continue;
      }
      if (!answer.response.ok) throw await this.#failure(answer, what);
      await answer.body.cancel().catch(() => {});
      return {
        path,
        size: bytes.length,
        modified: dateHeader(answer.response),
        identity: answer.response.headers.get("etag") ?? "",
      };
    }
    return await this.stat(path);
  }

  async #holds(path: string, bytes: Uint8Array, signal: AbortSignal | undefined) {
    const stat = await this.stat(path, { signal }).catch(() => undefined);
    const md5 = createHash("md5").update(bytes).digest("hex");
    return stat !== undefined && stat.identity?.replaceAll('"', "") === md5;
  }

  async #multipart(
    path: string,
    first: Uint8Array[],
    rest: PartReader,
    options: WriteOptions,
  ): Promise<FileStat> {
    const what = `write "${this.#describe(path)}"`;
    const created = await this.#xml("POST", path, {
      query: "uploads=",
      signal: options.signal,
      what,
    });
    const id = xmlElement(created, "UploadId");
    if (!id) throw new StorageError(`Cannot ${what}: the server gave no upload ID`);
    try {
      const { etags, size } = await uploadParts({
        next: () => first.length > 0 ? Promise.resolve(first.shift()) : rest.next(),
        upload: (number, bytes, signal) => this.#uploadPart(path, id, number, bytes, signal),
        concurrency: this.#partsInFlight,
        signal: options.signal,
      });
      options.signal?.throwIfAborted();
      const manifest = `<CompleteMultipartUpload>${
        etags.map((etag, i) =>
          `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`
        ).join("")
      }</CompleteMultipartUpload>`;
      // Completing is the commit: until then no reader sees any of the parts.
      const done = await this.#xml("POST", path, {
        query: `uploadId=${encodeQuery(id)}`,
        body: new TextEncoder().encode(manifest),
        signal: options.signal,
        what,
      });
      return {
        path,
        size,
        modified: new Date(),
        identity: xmlElement(done, "ETag") ?? "",
      };
    } catch (error) {
      await this.#abortUpload(path, id).catch(() => {});
      throw error;
    }
  }

  async #uploadPart(
    path: string,
    id: string,
    number: number,
    bytes: Uint8Array,
    signal: AbortSignal,
  ): Promise<string> {
    const what = `write "${this.#describe(path)}" (part ${number})`;
    const answer = await this.#send("PUT", path, {
      query: `partNumber=${number}&uploadId=${encodeQuery(id)}`,
      body: bytes,
      signal,
      what,
    });
    if (!answer.response.ok) throw await this.#failure(answer, what);
    await answer.body.cancel().catch(() => {});
    return answer.response.headers.get("etag") ?? "";
  }

  /** Drops an unfinished upload and its parts; bounded, and not stopped by the caller's abort. */
  async #abortUpload(path: string, id: string): Promise<void> {
    const what = `abort the upload of "${this.#describe(path)}"`;
    const answer = await this.#send("DELETE", path, {
      query: `uploadId=${encodeQuery(id)}`,
      what,
    });
    await answer.body.cancel().catch(() => {});
    if (!answer.response.ok && answer.response.status !== 404) {
      throw new StorageError(`Cannot ${what}: HTTP ${answer.response.status}`);
    }
  }

  // --- requests ------------------------------------------------------------------------------

  /** Sends a request whose answer is XML; a non-2xx answer or an `<Error>` body throws. */
  async #xml(method: string, path: string | undefined, options: SendOptions): Promise<string> {
    const answer = await this.#send(method, path, options);
    if (!answer.response.ok) throw await this.#failure(answer, options.what);
    const text = await new Response(answer.body).text();
    if (/<Error>/.test(text)) throw errorFromXml(text, options.what);
    return text;
  }

  async #send(method: string, path: string | undefined, options: SendOptions): Promise<S3Answer> {
    const connection = await this.#connect();
    const { client, policy } = connection;
    const url = this.#url(path, options.query, connection);
    const headers: Record<string, string> = { ...options.headers };
    const body = options.body;
    // The payload's hash is signed, so a body changed or cut short on the way is refused.
    if (body) headers["x-amz-content-sha256"] = createHash("sha256").update(body).digest("hex");
    let attempt = 0;
    return await fetchWithPolicy(policy, {
      build: () => {
        options.onAttempt?.(++attempt);
        return client.sign(url, { method, headers, ...(body ? { body: body as BodyInit } : {}) });
      },
      uploadBytes: body?.length ?? 0,
      signal: options.signal,
      what: options.what,
    });
  }

  #url(path: string | undefined, query: string | undefined, { config }: Connection): string {
    const key = path === undefined ? "" : encodeKey(this.#prefix + path);
    const base = config.pathStyle
      ? `${config.endpoint}/${this.#bucket}`
      : config.endpoint.replace("://", `://${this.#bucket}.`);
    return `${base}/${key}${query ? `?${query}` : ""}`;
  }

  #connect(): Promise<Connection> {
    this.#connection ??= (async () => {
      const given = this.#options.config;
      const config = typeof given === "function" ? await given() : given;
      const client = new AwsClient({
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
        ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
        service: "s3",
        region: config.region,
        retries: 0,
      });
      const trusting = config.caBundle ? fetchTrustingCa(config.caBundle) : fetch;
      const policy: S3FetchPolicy = {
        fetch: this.#options.fetch ?? ((request) => trusting(request)),
        headersTimeoutMs: this.#options.headersTimeoutMs ?? 30_000,
        idleTimeoutMs: this.#options.idleTimeoutMs ?? 60_000,
        minBytesPerSecond: this.#options.minBytesPerSecond ?? 64 * 1024,
        retries: this.#options.retries ?? 3,
        retryDelayMs: this.#options.retryDelayMs ?? 250,
      };
      return { client, config, policy };
    })();
    // A configuration that failed to load is tried again by the next request.
    this.#connection.catch(() => (this.#connection = undefined));
    return this.#connection;
  }

  async #failure(answer: S3Answer, what: string): Promise<Error> {
    // The error body is for the message only: a broken or huge one leaves just the status.
    const bytes = await collectBytes(answer.body, { maxBytes: 64 * 1024 }).catch(() => undefined);
    const text = new TextDecoder().decode(bytes);
    const code = xmlElement(text, "Code");
    const status = answer.response.status;
    const hint = status === 403 ? " (check the S3 credentials and the bucket's policy)" : "";
    return new StorageError(`Cannot ${what}: HTTP ${status}${code ? ` ${code}` : ""}${hint}`);
  }

  #describe(path: string): string {
    return `${this.location}/${path}`;
  }
}

/** Reads a stream in parts of exactly `size` bytes (the last may be shorter). */
class PartReader {
  readonly #source: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #whole: Uint8Array | undefined;
  #offset = 0;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #done = false;

  constructor(
    data: Uint8Array | ReadableStream<Uint8Array>,
    readonly size: number,
    readonly signal: AbortSignal | undefined,
  ) {
    if (data instanceof Uint8Array) this.#whole = data;
    else this.#source = data.getReader();
  }

  /** The next part, or undefined at the end. */
  async next(): Promise<Uint8Array | undefined> {
    if (this.#whole !== undefined) {
      if (this.#offset >= this.#whole.length) return undefined;
      const part = this.#whole.subarray(this.#offset, this.#offset + this.size);
      this.#offset += this.size;
      return part;
    }
    while (!this.#done && this.#heldBytes < this.size) {
      this.signal?.throwIfAborted();
      let chunk;
      try {
        chunk = await this.#source!.read();
      } catch (error) {
        this.#done = true;
        throw error;
      }
      this.signal?.throwIfAborted();
      if (chunk.done) this.#done = true;
      else {
        this.#held.push(chunk.value);
        this.#heldBytes += chunk.value.length;
      }
    }
    if (this.#heldBytes === 0) return undefined;
    const all = Buffer.concat(this.#held, this.#heldBytes);
    const part = all.slice(0, this.size);
    const rest = all.subarray(this.size);
    this.#held = rest.length > 0 ? [rest] : [];
    this.#heldBytes = rest.length;
    return part;
  }

  /** Stops reading the source (after a failed upload). */
  async cancel(reason: unknown): Promise<void> {
    if (!this.#done) await this.#source?.cancel(reason).catch(() => {});
  }

  /** Everything, refusing more than `max` bytes. */
  async all(max: number, what: string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let part = await this.next(); part !== undefined; part = await this.next()) {
      total += part.length;
      if (total > max) {
        await this.#source?.cancel().catch(() => {});
        throw new StorageError(
          `Cannot create "${what}" only if absent: it is over ${max} bytes, and S3 can make ` +
            `only a single PUT conditional`,
        );
      }
      parts.push(part);
    }
    return Buffer.concat(parts, total);
  }
}

/** Fails the body when it ends before `length` bytes (a connection cut mid-object). */
function expectLength(length: number, what: string): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length;
      controller.enqueue(chunk);
    },
    flush(controller) {
      if (seen !== length) {
        controller.error(
          new DownloadError(`Cannot ${what}: the transfer ended after ${seen} of ${length} bytes`),
        );
      }
    },
  });
}

function statOf(path: string, response: Response, size: number): FileStat {
  const modified = new Date(response.headers.get("last-modified") ?? 0);
  const etag = response.headers.get("etag") ?? "";
  return {
    path,
    size,
    modified: Number.isNaN(modified.getTime()) ? new Date(0) : modified,
    identity: etag,
    // Only a well-formed strong tag is reused as the HTTP validator servers answer with.
    ...(/^"[^"]+"$/.test(etag) ? { etag } : {}),
  };
}

function lengthOf(response: Response): number {
  const header = response.headers.get("content-length");
  const size = header === null || header.trim() === "" ? NaN : Number(header);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new StorageError(`Cannot read "${response.url}": the server sent no Content-Length`);
  }
  return size;
}

function totalOf(response: Response): number | undefined {
  const total = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1];
  return total === undefined ? undefined : Number(total);
}

function dateHeader(response: Response): Date {
  const date = new Date(response.headers.get("date") ?? Date.now());
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

function errorFromXml(text: string, what: string): StorageError {
  return new StorageError(`Cannot ${what}: ${xmlElement(text, "Code") ?? "the server failed"}`);
}

function isPath(path: string): boolean {
  try {
    checkPath(path);
    return true;
  } catch {
    return false;
  }
}

/** A key in a URL path: each segment percent-encoded, RFC 3986 style. */
function encodeKey(key: string): string {
  return key.split("/").map(encodeQuery).join("/");
}

function encodeQuery(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
