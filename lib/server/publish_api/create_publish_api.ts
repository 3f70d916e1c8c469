import { Hono } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import { MAX_MANIFEST_BYTES } from "../../format/repo_defaults.ts";
import type { KeyLocation } from "../../writer/repo_keys.ts";
import type { Storage } from "../../storage/storage.ts";
import { apiAnswer, PublishRefusal, refusalAnswer } from "./_refusal.ts";
import { acceptComponent, type IndexFlags } from "./accept_component.ts";
import { acceptRoot } from "./accept_root.ts";
import type { UploadSessions } from "./upload_sessions.ts";

/** Options for {@linkcode createPublishApi}. */
export interface PublishApiOptions {
  /** Where uploads wait for their manifest. */
  sessions: UploadSessions;
  /** The mirror's index/snapshot/timestamp keys (default `<mirror>/keys/`). */
  keys?: KeyLocation;
  /**
   * A bearer token every write request must present (`Authorization: Bearer …`), on top of
   * the manifest signatures; omit for TiUP's behaviour (signatures only).
   */
  token?: string;
  /** Clock (tests). */
  now?: () => Date;
  /** Told about each commit and each internal error (the server's log). */
  onEvent?: (event: PublishEvent) => void;
}

/** What the API reports to the server's log. */
export type PublishEvent =
  | { kind: "published"; component: string; version: number; files: string[] }
  | { kind: "rotated"; rootPath: string }
  | { kind: "error"; error: unknown };

/** The API's paths all start with this; everything else is the static mirror. */
export const PUBLISH_API_PREFIX = "/api/";

/**
 * What a listener that takes no writes answers on the API's paths (`serve --publish-listen`
 * puts the write API on a listener of its own): 403 FORBIDDEN in tiup-server's shape, which
 * TiUP's client reports as "make sure you have access", with `message` saying where to go.
 */
export function refuseWritesHere(request: Request, message: string): Response {
  request.body?.cancel().catch(() => {});
  return apiAnswer(403, "FORBIDDEN", message);
}

/**
 * tiup-server's write API over a mirror directory, byte-compatible with TiUP's client
 * (pkg/repository/mirror.go httpMirror.Publish and Rotate):
 *
 * - `POST /api/v1/tarball/{sid}` — multipart field `file`: the tarball, kept for the session;
 * - `POST /api/v1/component/{sid}/{name}?yanked=&standalone=&hidden=` — the owner-signed
 *   component manifest (TiUP sends `Content-Type: text/json`; any type is read as JSON);
 * - `POST /api/v1/rotate` — a new signed root.
 *
 * Success is `204 No Content` (pingcap/fn's answer for a nil result); refusals are
 * `{"status": …, "message": …}` with tiup-server's codes (400, 403, 404 for a missing session,
 * 409, 500). Transactions of this server run one at a time, each under the mirror's writer lock
 * with its crash-safe journal, so concurrent publishers never lose an update: a publisher whose
 * manifest is no longer the next version gets 409, which makes TiUP's client (and ferry's)
 * fetch again, re-sign and retry. Returns a Hono app; test it with `app.request()`.
 */
export function createPublishApi(storage: Storage, options: PublishApiOptions) {
  const app = new Hono();
  const sessions = options.sessions;
  const now = options.now ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  const serialize = serializer();
  const keys = options.keys ? { keys: options.keys } : {};

  app.onError((error) => refusalAnswer(error, (e) => onEvent({ kind: "error", error: e })));
  if (options.token !== undefined) {
    const expected = digest(options.token);
    app.use("*", async (c, next) => {
      const header = c.req.header("authorization") ?? "";
      const presented = /^Bearer (.+)$/i.exec(header)?.[1]?.trim() ?? "";
      if (!timingSafeEqual(digest(presented), expected)) {
        await c.req.raw.body?.cancel().catch(() => {});
        throw new PublishRefusal(
          "unauthorized",
          "This mirror's write API needs a bearer token (Authorization: Bearer …)",
        );
      }
      await next();
    });
  }

  app.post("/api/v1/tarball/:sid", async (c) => {
    await sessions.receive(c.req.param("sid"), c.req.raw);
    return c.body(null, 204);
  });

  app.post("/api/v1/component/:sid/:name", async (c) => {
    const sid = c.req.param("sid");
    const name = c.req.param("name");
    const body = await readBody(c.req.raw, MAX_MANIFEST_BYTES);
    const upload = sessions.get(sid);
    const flags = indexFlags(new URL(c.req.url).searchParams);
    const result = await serialize(() =>
      // The writer lock waits (bounded) for a writer of another process, a CLI publish.
      acceptComponent(storage, {
        name,
        body,
        flags,
        ...(upload ? { upload } : {}),
      }, { ...keys, now: now() })
    );
    // Answered once the session's file name is gone (its bytes stay, linked into the mirror).
    await sessions.delete(sid);
    const manifest = result.files.find((f) => f.endsWith(`.${name}.json`)) ?? "";
    onEvent({
      kind: "published",
      component: name,
      version: Number(manifest.split(".")[0]),
      files: result.files,
    });
    return c.body(null, 204);
  });

  app.post("/api/v1/rotate", async (c) => {
    const body = await readBody(c.req.raw, MAX_MANIFEST_BYTES);
    const result = await serialize(() => acceptRoot(storage, body, { ...keys, now: now() }));
    onEvent({ kind: "rotated", rootPath: result.rootPath });
    return c.body(null, 204);
  });

  app.all(
    "/api/v1/*",
    () => apiAnswer(405, "METHOD NOT ALLOWED", "the publish API takes POST requests only"),
  );
  app.all("*", () => apiAnswer(404, "NOT FOUND", "no such API"));
  return app;
}

/** TiUP's buildInfo: "true" and "false" set a flag, anything else leaves it alone. */
function indexFlags(query: URLSearchParams): IndexFlags {
  const flags: IndexFlags = {};
  for (const name of ["yanked", "standalone", "hidden"] as const) {
    const value = query.get(name);
    if (value === "true") flags[name] = true;
    else if (value === "false") flags[name] = false;
  }
  return flags;
}

async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of request.body) {
    length += chunk.length;
    if (length > maxBytes) {
      throw new PublishRefusal(
        "invalid-manifest",
        `Cannot accept a manifest over ${maxBytes} bytes`,
      );
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Runs tasks one at a time, in arrival order (one writer transaction at a time per server). */
function serializer() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => {});
    return run;
  };
}
