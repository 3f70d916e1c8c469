import { randomBytes, randomUUID } from "node:crypto";
import { PublishRejectedError, UsageError } from "../errors.ts";

/** Options for {@linkcode PublishApiClient}. */
export interface PublishApiClientOptions {
  fetch?: (request: Request) => Promise<Response>;
  /** Sent as `Authorization: Bearer …` when the server's write API needs it. */
  token?: string;
}

/** The index flags a component post may set; absent ones are not sent. */
export interface ComponentQuery {
  yanked?: boolean;
  standalone?: boolean;
  hidden?: boolean;
}

/** A tarball to upload: its file name in the mirror, its size and a way to read it once. */
export interface UploadSource {
  filename: string;
  length: number;
  open(): ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
}

/**
 * The client half of tiup-server's write API, speaking it as TiUP's client does
 * (pkg/repository/mirror.go): a client-made UUID session, the tarball as the multipart field
 * `file` named `<comp>-<ver>-<os>-<arch>.tar.gz`, then the signed manifest as `text/json` to
 * `/api/v1/component/{sid}/{id}?…` — except that the tarball is streamed (with a
 * Content-Length), never held in memory. A refusal is a PublishRejectedError with the server's
 * status; a server without the API (a static mirror, a read-only `ferry mirror serve`) is a
 * UsageError that says so.
 */
export class PublishApiClient {
  readonly #base: string;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #token: string | undefined;

  constructor(baseUrl: string, options: PublishApiClientOptions = {}) {
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? ((request) => fetch(request));
    this.#token = options.token;
  }

  /** A new session ID, as TiUP's client makes one (a random UUID). */
  newSession(): string {
    return randomUUID();
  }

  /** POST /api/v1/tarball/{sid}: uploads the tarball of a session. */
  async uploadTarball(sid: string, source: UploadSource): Promise<void> {
    const boundary = `ferry${randomBytes(16).toString("hex")}`;
    const head = new TextEncoder().encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${source.filename}"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
    const file = await source.open();
    const body = concatStreams([head, file, tail]);
    await this.#post(`/api/v1/tarball/${encodeURIComponent(sid)}`, body, {
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": String(head.length + source.length + tail.length),
    });
  }

  /** POST /api/v1/component/{sid}/{name}: submits a signed component manifest. */
  async postComponent(
    sid: string,
    name: string,
    manifest: Uint8Array,
    query: ComponentQuery = {},
  ): Promise<void> {
    const params = new URLSearchParams();
    for (const flag of ["hidden", "standalone", "yanked"] as const) {
      const value = query[flag];
      if (value !== undefined) params.set(flag, String(value));
    }
    const search = params.size > 0 ? `?${params}` : "";
    await this.#post(
      `/api/v1/component/${encodeURIComponent(sid)}/${encodeURIComponent(name)}${search}`,
      manifest,
      { "content-type": "text/json" },
    );
  }

  /** POST /api/v1/rotate: submits a new signed root. */
  async postRoot(root: Uint8Array): Promise<void> {
    await this.#post("/api/v1/rotate", root, { "content-type": "text/json" });
  }

  async #post(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    headers: Record<string, string>,
  ): Promise<void> {
    const url = `${this.#base}${path}`;
    const request = new Request(url, {
      method: "POST",
      body: body as BodyInit,
      headers: { ...headers, ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}) },
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit);
    const response = await this.#fetch(request);
    if (response.status < 300) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    const text = await response.text().catch(() => "");
    const answer = parseAnswer(text);
    if (!answer) {
      if ([404, 405, 501].includes(response.status)) {
        throw new UsageError(
          `Cannot publish to "${this.#base}": it has no publish API (it answered ${response.status} ` +
            `to POST ${path.split("/").slice(0, 4).join("/")}); serve the mirror with ` +
            `"ferry mirror serve DIR --publish", or publish on the machine that holds it with --mirror DIR`,
        );
      }
      throw new PublishRejectedError(
        `Cannot publish to "${this.#base}": POST ${path} answered ${response.status}`,
        response.status,
        "",
      );
    }
    throw new PublishRejectedError(
      `The mirror "${this.#base}" refused the request (${response.status} ${answer.status}): ${answer.message}`,
      response.status,
      answer.status,
    );
  }
}

function parseAnswer(text: string): { status: string; message: string } | undefined {
  try {
    const json = JSON.parse(text);
    if (typeof json?.status === "string" && typeof json?.message === "string") return json;
  } catch {
    // Not tiup-server's error shape.
  }
  return undefined;
}

/** One stream of byte arrays and streams, in order, read lazily (backpressure preserved). */
function concatStreams(
  parts: Array<Uint8Array | ReadableStream<Uint8Array>>,
): ReadableStream<Uint8Array> {
  let index = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (index < parts.length) {
        const part = parts[index]!;
        if (part instanceof Uint8Array) {
          index++;
          controller.enqueue(part);
          return;
        }
        reader ??= part.getReader();
        const { done, value } = await reader.read();
        if (!done) {
          controller.enqueue(value);
          return;
        }
        reader = undefined;
        index++;
      }
      controller.close();
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
}
