import { NotFoundError } from "../../errors.ts";
import type { Storage, StorageReader } from "../../storage/storage.ts";
import { cacheControlFor, contentTypeFor } from "../cache_policy.ts";
import { type ExpectedTarball, listedTarballs } from "./listed_tarballs.ts";
import { TarballPuller, type TarballPullerOptions } from "./tarball_puller.ts";

/** A request handler, as `ferry mirror serve` runs them. */
export type MirrorHandler = (
  request: Request,
  info: { remoteAddress: string },
) => Response | Promise<Response>;

/** Options for {@linkcode createPullThrough}. */
export interface PullThroughOptions extends TarballPullerOptions {
  /** Clock (tests). */
  now?: () => Date;
}

/** A tarball name in the mirror root: one segment, no dot files. */
const TARBALL_PATH = /^[A-Za-z0-9_+][A-Za-z0-9._+-]*\.tar\.gz$/;

/**
 * Pull-through for a mirror that lists tarballs it does not hold (`ferry mirror clone
 * --no-tarballs`, or any clone): wraps the static handler so that a GET of a tarball the
 * static mirror answers 404 for, and that the mirror's own signed manifests list, is fetched
 * from `upstream` (one fetch however many clients ask: {@linkcode TarballPuller}), verified
 * against the listed length and hashes while it streams to the first client, kept, and served
 * from disk to everyone else. A HEAD is answered from the manifest. Anything not listed stays a
 * 404, so the upstream is never asked for a path the mirror does not vouch for; an unreachable
 * upstream is a 502 for what is not kept, and what is kept is served as before.
 */
export function createPullThrough(
  local: Storage,
  upstream: StorageReader,
  options: PullThroughOptions = {},
): (inner: MirrorHandler) => MirrorHandler {
  const puller = new TarballPuller(local, upstream, options);
  const now = options.now ?? (() => new Date());
  let listed: { key: string; tarballs: Promise<Map<string, ExpectedTarball>> } | undefined;
  // The list is rebuilt when timestamp.json changes (a refresh or a publish wrote new manifests).
  const lookup = async (path: string): Promise<ExpectedTarball | undefined> => {
    const stat = await local.stat("timestamp.json");
    const key = `${stat.size}-${stat.modified.getTime()}`;
    if (listed?.key !== key) {
      listed = { key, tarballs: listedTarballs(local, { now: now() }) };
      listed.tarballs.catch(() => (listed = undefined));
    }
    return (await listed.tarballs).get(path);
  };
  return (inner) => async (request, info) => {
    const response = await inner(request, info);
    const method = request.method;
    if (response.status !== 404 || (method !== "GET" && method !== "HEAD")) return response;
    const path = tarballPath(request.url);
    if (path === undefined) return response;
    const expected = await lookup(path).catch(() => undefined);
    if (!expected) return response;
    await response.body?.cancel().catch(() => {});
    const headers = {
      "content-type": contentTypeFor(path),
      "cache-control": cacheControlFor(path),
      "content-length": String(expected.length),
    };
    if (method === "HEAD") return new Response(null, { status: 200, headers });
    let transfer;
    try {
      transfer = await puller.pull(path, expected);
      if (!transfer.body || request.headers.has("range")) {
        await transfer.body?.cancel();
        await transfer.kept;
        return await inner(request, info);
      }
    } catch (error) {
      return upstreamFailure(path, error);
    }
    return new Response(transfer.body, { status: 200, headers });
  };
}

function tarballPath(url: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, "http://x").pathname).replace(/^\/+/, "");
  } catch {
    return undefined;
  }
  return TARBALL_PATH.test(path) ? path : undefined;
}

function upstreamFailure(path: string, error: unknown): Response {
  const missing = error instanceof NotFoundError;
  const text = missing
    ? `Not found: the upstream has no "${path}"\n`
    : `Cannot fetch "${path}" from the upstream, or it did not match its signed manifest\n`;
  return new Response(text, {
    status: missing ? 404 : 502,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
