/**
 * What `ferry mirror serve` adds for a team (folder-private): the publish API (`--publish`) in
 * front of the static mirror, and the pull-through of missing tarballs (`--upstream`). Kept out
 * of serve.ts so the command itself stays a few lines longer only.
 *
 * @module
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import type { FlagSpecs, TypedFlags } from "../../lib/cli/command.ts";
import type { Output } from "../../lib/cli/output.ts";
import { UsageError } from "../../lib/errors.ts";
import {
  createPublishApi,
  PUBLISH_API_PREFIX,
  type PublishEvent,
  refuseWritesHere,
} from "../../lib/server/publish_api/create_publish_api.ts";
import { UploadSessions } from "../../lib/server/publish_api/upload_sessions.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { isS3Location, openWritableStorage } from "../../lib/storage/open_storage.ts";
import { parseDuration, parseSize } from "../../proxy/parse_proxy_config.ts";
import { createPullThrough } from "../../lib/server/pull_through/create_pull_through.ts";
import { startMetadataRefresh } from "../../lib/server/pull_through/refresh_metadata.ts";
import { HttpStorage } from "../../lib/storage/http_storage.ts";
import { FERRY_VERSION } from "../../lib/version.ts";

/** Where uploads wait for their manifest, inside the mirror directory (never served). */
const UPLOADS_DIR = ".ferry-uploads";

/** The flags `mirror serve` takes for the team services. */
export const TEAM_SERVE_FLAGS = {
  publish: {
    type: "boolean",
    description: "Serve TiUP's publish API (tiup/ferry mirror publish --mirror http://…)",
  },
  "key-dir": {
    type: "string",
    valueName: "DIR",
    description: "With --publish: the index/snapshot/timestamp keys (default: DIR/keys)",
  },
  "max-upload": {
    type: "string",
    valueName: "SIZE",
    default: "4GiB",
    description: "With --publish: the largest tarball accepted",
  },
  "publish-token-file": {
    type: "string",
    valueName: "FILE",
    description: "With --publish: publishers must send this bearer token",
  },
  "publish-listen": {
    type: "string",
    valueName: "HOST:PORT",
    description:
      "With --publish: take writes only on this second listener (the --client-ca one, if given)",
  },
  "client-ca": {
    type: "string",
    valueName: "FILE",
    description: "With --tls-cert: clients must present a certificate signed by this CA " +
      "(on --publish-listen if given, else every client, reads too; Bun only)",
  },
  upstream: {
    type: "string",
    valueName: "URL",
    description: "Fetch listed but missing tarballs from this mirror on first request",
  },
  "refresh-interval": {
    type: "string",
    valueName: "DURATION",
    default: "10m",
    description: "With --upstream: refresh the metadata from it this often (0: never)",
  },
  "upstream-root": {
    type: "string",
    valueName: "FILE",
    description: "With --upstream: its root.json to trust (default: its own, on first use)",
  },
} as const satisfies FlagSpecs;

/** The team flags' values. */
export type TeamServeOptions = TypedFlags<typeof TEAM_SERVE_FLAGS>;

/** The request handler to run and what to stop at shutdown. */
export interface TeamServices {
  handler: (
    request: Request,
    info: { remoteAddress: string },
  ) => Response | Promise<Response>;
  /**
   * With --publish-listen: what the main listener runs instead, everything but the write API
   * (refused with 403, naming the publish listener at `publishUrl`); `handler` runs on the
   * publish listener.
   */
  readHandler?: (publishUrl: string) => TeamServices["handler"];
  describe: string[];
  /** The largest request body the listener must accept (uploads), when above its default. */
  maxRequestBodyBytes?: number;
  close(): Promise<void>;
}

/** Wraps the static handler with the services the flags ask for. */
export async function teamServices(
  dir: string,
  flags: TeamServeOptions,
  staticHandler: TeamServices["handler"],
  out: Output,
  env: Record<string, string | undefined> = process.env,
): Promise<TeamServices> {
  const describe: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  let handler = staticHandler;
  let maxRequestBodyBytes: number | undefined;
  if (flags.publish) {
    const maxBytes = parseSize(flags["max-upload"], "--max-upload", "flags");
    const tokenFile = flags["publish-token-file"];
    const token = tokenFile === undefined ? undefined : await readToken(tokenFile);
    const keyDir = flags["key-dir"];
    const bucket = isS3Location(dir);
    const storage = bucket ? openWritableStorage(dir, { env }) : new LocalStorage(dir);
    // On disk, uploads wait inside the mirror's own storage, so a published one is linked into
    // place, not copied. A bucket cannot link: they wait in a private local directory and are
    // copied into the bucket by the commit (the replicas' writers take turns by the lease).
    const uploads = bucket
      ? await mkdtemp(nodePath.join(tmpdir(), "ferry-uploads-"))
      : nodePath.join(dir, UPLOADS_DIR);
    const sessions = new UploadSessions(uploads, {
      maxBytes,
      ...(bucket ? {} : { within: { storage, path: UPLOADS_DIR } }),
    });
    if (bucket) closers.push(() => rm(uploads, { recursive: true, force: true }));
    const api = createPublishApi(storage, {
      sessions,
      ...(keyDir ? { keys: { storage: new LocalStorage(keyDir), prefix: "" } } : {}),
      ...(token !== undefined ? { token } : {}),
      onEvent: (event) => report(out, event),
    });
    const inner = handler;
    handler = (request, info) =>
      isApiRequest(request) ? api.fetch(request, info) : inner(request, info);
    closers.unshift(() => sessions.close());
    // The multipart framing around the tarball, on top of the limit the sessions enforce.
    maxRequestBodyBytes = maxBytes + 1024 * 1024;
    describe.push(
      `Publish API on: ${
        token !== undefined ? "bearer token required, " : ""
      }uploads up to ${maxBytes} bytes`,
    );
  } else if (flags["key-dir"] || flags["publish-token-file"] || flags["publish-listen"]) {
    throw new UsageError(
      `Cannot use --key-dir, --publish-token-file or --publish-listen without --publish`,
    );
  }
  const upstreamUrl = flags.upstream;
  if (upstreamUrl !== undefined) {
    if (!/^https?:\/\//i.test(upstreamUrl)) {
      throw new UsageError(`Cannot use --upstream "${upstreamUrl}": expected an http(s) URL`);
    }
    const upstream = new HttpStorage(upstreamUrl, { userAgent: `ferry/${FERRY_VERSION}` });
    const bucket = isS3Location(dir);
    const local = bucket ? openWritableStorage(dir, { env }) : new LocalStorage(dir);
    const wrap = createPullThrough(local, upstream, {
      onFetch: (path) => out.info(`Pulling ${path} from ${upstream.location}`),
      onKept: (path, bytes) => out.info(`Kept ${path} (${bytes} bytes, verified)`),
      onRejected: (path, error) =>
        out.warn(`Not keeping ${path}: ${(error as Error)?.message ?? String(error)}`),
    });
    handler = wrap(handler);
    const every = flags["refresh-interval"];
    const interval = every === "0" ? 0 : parseDuration(every, "--refresh-interval", "flags");
    const rootFile = flags["upstream-root"];
    const trustedRoot = rootFile === undefined ? undefined : await readFile(rootFile).catch(
      (error) => {
        throw new UsageError(`Cannot read "${rootFile}": ${error.code ?? error.message}`);
      },
    );
    if (interval > 0) {
      const refresh = startMetadataRefresh(upstream, local, {
        intervalMs: interval,
        // The updater's cache of the upstream's metadata: a dotted prefix, never served.
        cache: bucket
          ? openWritableStorage(`${dir.replace(/\/+$/, "")}/.ferry-upstream`, { env })
          : new LocalStorage(nodePath.join(dir, ".ferry-upstream")),
        ...(trustedRoot ? { trustedRoot: new Uint8Array(trustedRoot) } : {}),
        onRefreshed: (report) => {
          if (report.changed) out.info(`Refreshed the metadata from ${upstream.location}`);
        },
        onError: (error) =>
          out.warn(
            `Cannot refresh from ${upstream.location}: ${(error as Error)?.message ?? error}`,
          ),
      });
      closers.push(() => refresh.stop());
    }
    describe.push(
      `Pull-through from ${upstream.location}${
        interval > 0 ? `, metadata refreshed every ${interval / 1000} s` : ""
      }`,
    );
  }
  const full = handler;
  const readHandler = flags.publish && flags["publish-listen"] !== undefined &&
    ((publishUrl: string): TeamServices["handler"] => {
      const port = new URL(publishUrl).port;
      // The listener's own host may be 0.0.0.0: the client knows this server by another name.
      const message = `This listener takes no writes: publish through port ${port} of this ` +
        `server (--publish-listen)`;
      return (request, info) =>
        isApiRequest(request) ? refuseWritesHere(request, message) : full(request, info);
    });
  return {
    handler,
    ...(readHandler ? { readHandler } : {}),
    describe,
    ...(maxRequestBodyBytes !== undefined ? { maxRequestBodyBytes } : {}),
    async close() {
      for (const close of closers) await close();
    },
  };
}

function isApiRequest(request: Request): boolean {
  return new URL(request.url).pathname.startsWith(PUBLISH_API_PREFIX);
}

async function readToken(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch((error) => {
    throw new UsageError(`Cannot read the token file "${file}": ${error.code ?? error.message}`);
  });
  const token = text.trim();
  if (token.length < 16) {
    throw new UsageError(`Cannot use the token in "${file}": it must be at least 16 characters`);
  }
  return token;
}

function report(out: Output, event: PublishEvent): void {
  if (event.kind === "published") {
    out.info(
      `Published ${event.component} (manifest v${event.version}): ${event.files.join(", ")}`,
    );
  } else if (event.kind === "rotated") {
    out.info(`Rotated the root: ${event.rootPath}`);
  } else {
    out.warn(`Publish API error: ${String((event.error as Error)?.stack ?? event.error)}`);
  }
}
