import busboy from "busboy";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import * as nodePath from "node:path";
import { type Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { collectGarbage } from "../../runtime.ts";
import type { StorageReader } from "../../storage/storage.ts";
import type { StoredTarball } from "../../writer/repository_change.ts";
import { PublishRefusal } from "./_refusal.ts";

/** A tarball received in an upload session, on disk and hashed as it arrived. */
export interface Upload {
  sid: string;
  /** The multipart file name (TiUP sends the mirror name, `<comp>-<ver>-<os>-<arch>.tar.gz`). */
  filename: string;
  /** Where the bytes are. */
  file: string;
  /**
   * The file as an object of the mirror's storage, when the upload directory lies inside it
   * (`within`): a publish then links it into place instead of copying its bytes.
   */
  stored?: StoredTarball;
  length: number;
  sha256: string;
  sha512: string;
  /** Clock milliseconds at which the session ends. */
  expiresAt: number;
}

/** Options for {@linkcode UploadSessions}. */
export interface UploadSessionsOptions {
  /** Largest tarball accepted, in bytes. */
  maxBytes: number;
  /** Session life; tiup-server's is 600 s. */
  ttlMs?: number;
  /** Milliseconds clock (tests); default `Date.now`. */
  clock?: () => number;
  /** Opens the file an upload is written to (tests: a slow disk); default createWriteStream. */
  openFile?: (path: string) => Writable;
  /**
   * The storage the upload directory lies in, and its path there (the mirror's
   * `.ferry-uploads`): each upload then says where it is in that storage (`Upload.stored`).
   */
  within?: { storage: StorageReader; path: string };
}

/** tiup-server's session life (server/session/session.go maxAliveTime). */
export const SESSION_TTL_MS = 600_000;

/** What a client may use as a session ID: TiUP sends a UUID. */
const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;
/** A tarball name: one path segment, no dot files. */
const FILE_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,254}$/;
/** What a multipart body may hold beyond the file (boundaries, headers, small fields). */
const ENVELOPE_ALLOWANCE = 1024 * 1024;
/**
 * Bytes of request body between two forced collections (Bun). Bun hands a body over as a fresh
 * 64 KiB buffer per read and lets spent ones pile up: a bare Bun.serve that only reads and drops a
 * 1 GiB body grew from 34 to 66 MiB RSS; with a full collection per 64 MiB, to 55 MiB, at about
 * 16 collections (tens of ms each) per GiB. Per 16 MiB saved little more and cost 4x the time.
 */
export const COLLECT_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * The upload half of tiup-server's publish protocol (POST /api/v1/tarball/{sid}): one tarball per
 * session ID, streamed from the multipart field `file` to a file in `dir` while its length and
 * hashes are computed, so memory stays flat whatever the size. A session lives `ttlMs` from its
 * start (TiUP: 600 s) and its file is removed when it ends, is taken by a publish, or is refused.
 * Nothing here touches the mirror: the publish that names the session verifies and commits.
 */
export class UploadSessions {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  readonly #openFile: (path: string) => Writable;
  readonly #within: UploadSessionsOptions["within"];
  readonly #sessions = new Map<string, Upload | "receiving">();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Removals of ended sessions' files still under way (close() waits for them). */
  readonly #removals = new Set<Promise<void>>();

  constructor(dir: string, options: UploadSessionsOptions) {
    this.#dir = dir;
    this.#maxBytes = options.maxBytes;
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#clock = options.clock ?? Date.now;
    this.#openFile = options.openFile ?? ((path) => createWriteStream(path, { mode: 0o600 }));
    this.#within = options.within;
  }

  /** The largest tarball accepted, in bytes. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /**
   * Receives the tarball of session `sid` from a multipart request. Refuses (PublishRefusal) a
   * malformed session ID or body, a body without a `file` field, a bad file name, a tarball over
   * the size limit (TiUP's 400 INVALID TARBALL), and a session ID already in use (409).
   */
  async receive(sid: string, request: Request): Promise<Upload> {
    if (!SESSION_ID.test(sid)) {
      throw new PublishRefusal("invalid-tarball", `Cannot use session "${sid}": not a session ID`);
    }
    if (this.#sessions.has(sid)) {
      throw new PublishRefusal("conflict", `Cannot upload to session "${sid}": it already exists`);
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > this.#maxBytes + ENVELOPE_ALLOWANCE) {
      await request.body?.cancel().catch(() => {});
      throw this.#tooLarge();
    }
    const contentType = request.headers.get("content-type") ?? "";
    if (!/^multipart\/form-data/i.test(contentType) || !request.body) {
      throw new PublishRefusal(
        "invalid-tarball",
        `Cannot read the upload: expected a multipart/form-data body with a "file" field`,
      );
    }
    this.#sessions.set(sid, "receiving");
    const file = nodePath.join(this.#dir, `${sid}-${randomBytes(6).toString("hex")}.tar.gz`);
    try {
      // 0700: an upload is nobody's business until it is published.
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      const received = await this.#parse(request.body, contentType, file);
      const stored = this.#within ? await this.#settle(file, received.length) : undefined;
      const upload: Upload = {
        sid,
        file,
        ...received,
        ...(stored ? { stored } : {}),
        expiresAt: this.#clock() + this.#ttlMs,
      };
      this.#sessions.set(sid, upload);
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        void this.delete(sid);
      }, this.#ttlMs);
      (timer as { unref?: () => void }).unref?.();
      this.#timers.add(timer);
      return upload;
    } catch (error) {
      this.#sessions.delete(sid);
      await rm(file, { force: true });
      throw error;
    }
  }

  /** The upload of a live session, or undefined (never started, expired or already taken). */
  get(sid: string): Upload | undefined {
    const upload = this.#sessions.get(sid);
    if (upload === undefined || upload === "receiving") return undefined;
    if (this.#clock() >= upload.expiresAt) {
      void this.delete(sid);
      return undefined;
    }
    return upload;
  }

  /**
   * Ends a session at once and removes its file (idempotent); resolves when the file is gone.
   * Callers that answer a client await it, so that what the answer says is done is done.
   */
  delete(sid: string): Promise<void> {
    const upload = this.#sessions.get(sid);
    if (upload === undefined || upload === "receiving") return Promise.resolve();
    this.#sessions.delete(sid);
    const removal = rm(upload.file, { force: true }).catch(() => {});
    this.#removals.add(removal);
    removal.then(() => this.#removals.delete(removal));
    return removal;
  }

  /** Ends every session (server shutdown). */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const files = [...this.#sessions.values()].flatMap((u) => u === "receiving" ? [] : [u.file]);
    this.#sessions.clear();
    await Promise.all([...files.map((file) => rm(file, { force: true })), ...this.#removals]);
  }

  #tooLarge(): PublishRefusal {
    return new PublishRefusal(
      "invalid-tarball",
      `Cannot accept the tarball: it is larger than this server's limit of ${this.#maxBytes} bytes`,
    );
  }

  /**
   * Readies a complete upload to become a mirror file by a link (its bytes are then written
   * once): durable (the link, unlike a storage write, syncs no data), readable as every mirror
   * file is (0644; the directory stays 0700), and known by its identity in the storage from
   * now on, so a publish can tell that the object it links is still the one that was hashed.
   */
  async #settle(file: string, length: number): Promise<StoredTarball> {
    const within = this.#within!;
    const handle = await open(file, "r+");
    try {
      await handle.sync();
      await handle.chmod(0o644);
    } finally {
      await handle.close();
    }
    const path = `${within.path}/${nodePath.basename(file)}`;
    const stat = await within.storage.stat(path);
    if (stat.size !== length) {
      throw new PublishRefusal(
        "invalid-tarball",
        `Cannot accept the upload: ${stat.size} bytes reached the disk, not ${length}`,
      );
    }
    return { path, ...(stat.identity !== undefined ? { identity: stat.identity } : {}) };
  }

  /** Streams the `file` part to `file`, hashing it; other parts are drained and ignored. */
  #parse(
    body: ReadableStream<Uint8Array>,
    contentType: string,
    file: string,
  ): Promise<{ filename: string; length: number; sha256: string; sha512: string }> {
    const parser = busboy({
      headers: { "content-type": contentType },
      limits: { fileSize: this.#maxBytes, files: 4, fields: 16, parts: 20 },
    });
    const reader = body.getReader();
    return new Promise((resolve, reject) => {
      let saving:
        | Promise<{ filename: string; length: number; sha256: string; sha512: string }>
        | undefined;
      let fileStream: Readable | undefined;
      let failed = false;
      const fail = (error: unknown) => {
        if (failed) return;
        failed = true;
        reader.cancel().catch(() => {});
        parser.destroy();
        // The file may still be opening: settle its pipeline first, so the caller's removal of
        // the file comes after it exists, never before (a refused upload left a file behind).
        fileStream?.destroy();
        const settled = saving ? saving.then(() => {}, () => {}) : Promise.resolve();
        settled.then(() => reject(error));
      };
      parser.on("file", (name, stream, info) => {
        if (name !== "file" || saving) {
          stream.resume();
          return;
        }
        const filename = info.filename ?? "";
        if (!FILE_NAME.test(filename)) {
          stream.resume();
          fail(
            new PublishRefusal(
              "invalid-tarball",
              `Cannot accept the file name "${filename}": expected a plain tarball name`,
            ),
          );
          return;
        }
        fileStream = stream;
        saving = this.#save(stream, file).then((digest) => {
          if ((stream as { truncated?: boolean }).truncated) throw this.#tooLarge();
          return { filename, ...digest };
        });
        saving.catch(fail);
      });
      parser.on("error", (error) =>
        fail(
          new PublishRefusal("invalid-tarball", `Cannot read the upload: ${String(error)}`, {
            cause: error,
          }),
        ));
      parser.on("close", () => {
        if (!saving) {
          fail(new PublishRefusal("invalid-tarball", `Cannot find the multipart field "file"`));
          return;
        }
        saving.then(resolve, fail);
      });
      // One chunk at a time, waiting for the parser (and through it the disk) to drain: the
      // request body is never read ahead of what has been written.
      const pump = async () => {
        let sinceCollection = 0;
        while (!failed) {
          const { done, value } = await reader.read();
          if (done) break;
          sinceCollection += value.length;
          if (sinceCollection >= COLLECT_EVERY_BYTES) {
            sinceCollection = 0;
            collectGarbage();
          }
          if (!parser.write(value)) await drained(parser);
        }
        if (!failed) parser.end();
      };
      pump().catch(fail);
    });
  }

  async #save(
    stream: Readable,
    file: string,
  ): Promise<{ length: number; sha256: string; sha512: string }> {
    const sha256 = createHash("sha256");
    const sha512 = createHash("sha512");
    let length = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sha256.update(chunk);
        sha512.update(chunk);
        length += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(stream, hashing, this.#openFile(file));
    return { length, sha256: sha256.digest("hex"), sha512: sha512.digest("hex") };
  }
}

/** Resolves when a writable can take more, or has closed (then the loop's next write fails). */
function drained(stream: NodeJS.WritableStream & NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
