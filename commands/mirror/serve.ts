import { constants as fsConstants } from "node:fs";
import { access, stat } from "node:fs/promises";
import * as nodePath from "node:path";
import { defineCommand, type FlagSpecs, type TypedFlags } from "../../lib/cli/command.ts";
import type { Output } from "../../lib/cli/output.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { NotFoundError, UsageError } from "../../lib/errors.ts";
import { ensureDemoMirror } from "../../lib/mirror/demo_mirror.ts";
import { serveHttp } from "../../lib/runtime.ts";
import { loadTls } from "../../lib/server/load_tls.ts";
import { loadClientCa } from "../../lib/server/load_client_ca.ts";
import { createMirrorHandler } from "../../lib/server/mirror_server.ts";
import { parseListen } from "../../lib/server/parse_listen.ts";
import { type DirectoryWatcher, watchDirectory } from "../../lib/server/watch_directory.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { isS3Location, openStorage } from "../../lib/storage/open_storage.ts";
import type { StorageReader } from "../../lib/storage/storage.ts";
import { parseDuration, parseSize } from "../../proxy/parse_proxy_config.ts";
import { REGISTRY_TABLE_FLAGS } from "../_registry_table_flags.ts";
import { serverFlags } from "../_server_flags.ts";
import { waitForStop } from "../_wait_for_stop.ts";
import { TEAM_SERVE_FLAGS, teamServices } from "./_serve_team.ts";

const SERVE_FLAGS = {
  ...serverFlags("127.0.0.1:8080"),
  ...REGISTRY_TABLE_FLAGS,
  ...TEAM_SERVE_FLAGS,
  "revalidate-interval": {
    type: "string",
    valueName: "DURATION",
    description: "How long a file kept in memory is served without asking storage again " +
      "(default 1s for DIR, which is also watched; 2s for s3://)",
  },
  "redirect-large": {
    type: "string",
    valueName: "SIZE",
    description: "With s3://: answer GETs of files of SIZE (e.g. 1MiB) and more with a 307 to " +
      "a presigned URL",
  },
  "redirect-origin": {
    type: "string",
    valueName: "URL",
    description: "With --redirect-large: sign the URLs for this origin of the object store " +
      "(the one clients reach; default: AWS_ENDPOINT_URL)",
  },
} as const satisfies FlagSpecs;

export const mirrorServeCommand = defineCommand({
  usage:
    "[DIR|s3://BUCKET/PREFIX] [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE] [--publish] [--upstream URL]",
  description: `Serves DIR: GET/HEAD, Range, ETag/304, cache headers that let LAN caches keep
versioned files forever. The mirror's private keys/ directory is never served.
s3://BUCKET/PREFIX serves a mirror from a bucket (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …):
run any number of replicas over one bucket. Small files are kept in memory and revalidated
once per --revalidate-interval (one HEAD per file for all requests); --redirect-large SIZE
answers GETs of files of SIZE and more with a 307 to a presigned URL of the bucket.
Without DIR, serves a demo mirror (created on first run under $FERRY_HOME/demo-mirror).
--publish adds TiUP's write API (POST /api/v1/...: owner-signed publishes, verified and
committed with the mirror's keys); --publish-listen HOST:PORT moves it to a second listener
(with --client-ca, the only one that asks clients for a certificate). --upstream URL fetches
tarballs the mirror lists but lacks (a "ferry mirror clone --no-tarballs" clone) on first
request, verified, then kept.

Examples:
  ferry mirror serve                                  # the demo mirror on 127.0.0.1:8080
  ferry mirror serve /srv/mirror --listen 0.0.0.0:8080
  ferry mirror serve /srv/mirror --listen :8443 --tls-cert cert.pem --tls-key key.pem
  ferry mirror serve /srv/mirror --publish            # + TiUP's publish API (mirror publish --mirror URL)
  ferry mirror serve /srv/mirror --listen :8443 --tls-cert cert.pem --tls-key key.pem \\
    --publish --publish-listen :9443 --client-ca team-ca.pem   # writes need a client certificate
  ferry mirror serve /srv/pkg --upstream https://tiup-mirrors.pingcap.com   # pull-through
  ferry mirror serve s3://mirrors/tidb --listen :8080 --redirect-large 1MiB  # one of N replicas

Clients then run:  ferry mirror set http://HOST:PORT   (or tiup mirror set http://HOST:PORT)

Images saved into DIR ("ferry image save") are served on /v2/ from the same port:
  docker pull HOST:PORT/REGISTRY/REPO:TAG   (--default-registry/--alias as for ferry proxy)`,
  flags: SERVE_FLAGS,
  positionals: { max: 1, names: "DIR" },
  async run({ args, options, out, env, signal }) {
    const settings = await readSettings(args[0], options, env, out);
    const { location, s3 } = settings;
    const storage = s3 ? openStorage(location, { env }) : new LocalStorage(location);
    if (s3) await checkServableBucket(storage);
    else await checkServableDirectory(location);
    const log = batchedLines((text) => out.print(text));
    // Small files are answered from memory. On disk the watch drops them as soon as the mirror
    // changes, and the revalidation interval bounds staleness where no notification comes (NFS);
    // on a bucket (nothing to watch) each kept file is revalidated once per interval.
    const watcher: DirectoryWatcher | undefined = s3 ? undefined : watchDirectory(location, {
      onError: (error) =>
        out.warn(
          `Cannot watch "${location}" for changes (${describeError(error)}): changed files ` +
            `are seen within ${settings.revalidateMs} ms instead`,
        ),
    });
    const handler = createMirrorHandler(storage, {
      // Loaded here: the registry table's YAML parser is not needed to show --help.
      v2: await (await import("../image/_bundle_handler.ts")).bundleHandler(
        storage,
        options,
        (line) => out.warn(line),
      ),
      ...(watcher ? { changes: watcher } : {}),
      revalidateMs: settings.revalidateMs,
      ...(settings.redirectBytes !== undefined
        ? {
          redirectLarge: {
            minBytes: settings.redirectBytes,
            ...(settings.redirectOrigin !== undefined ? { origin: settings.redirectOrigin } : {}),
          },
        }
        : {}),
      ...(settings.accessLog ? { onAccess: log.add } : {}),
    });
    let team;
    let server;
    let publishServer;
    try {
      team = await teamServices(location, options, handler, out, env);
      // The upload limit on both listeners: a large upload sent to the main one gets its 403
      // (pointing to the publish listener), not the runtime's bare 413.
      const uploads = team.maxRequestBodyBytes
        ? { maxRequestBodyBytes: team.maxRequestBodyBytes }
        : {};
      const { publishListen } = settings;
      // With --publish-listen the write API (and --client-ca) is on a listener of its own,
      // bound first (its URL goes into the main listener's refusals); the main one serves
      // everything else to every client.
      if (publishListen) {
        publishServer = await serveHttp(team.handler, {
          hostname: publishListen.hostname,
          port: publishListen.port,
          listenFlag: "--publish-listen",
          ...(settings.tls ? { tls: settings.tls.all } : {}),
          ...uploads,
        });
      }
      const mainHandler = publishServer && team.readHandler
        ? team.readHandler(publishServer.url)
        : team.handler;
      server = await serveHttp(mainHandler, {
        hostname: settings.listen.hostname,
        port: settings.listen.port,
        ...(settings.tls ? { tls: publishListen ? settings.tls.server : settings.tls.all } : {}),
        ...uploads,
      });
    } catch (error) {
      await Promise.allSettled([publishServer?.shutdown(0)]);
      await Promise.allSettled([team?.close()]);
      watcher?.close();
      throw error;
    }
    await printStarted(out, env, storage, server.url, [
      `Serving ${s3 ? storage.location : nodePath.resolve(location)} at ${server.url}`,
      ...(s3
        ? [
          `Files kept in memory are revalidated every ${settings.revalidateMs / 1000} s` +
          (options["redirect-large"] !== undefined
            ? `; GETs of ${options["redirect-large"]} and more are redirected`
            : ""),
        ]
        : []),
      ...team.describe,
      ...(publishServer
        ? [
          `Publish API at ${publishServer.url}` +
          (settings.tls?.all.clientCa !== undefined ? " (client certificate required)" : "") +
          `; ${server.url} takes no writes`,
        ]
        : []),
    ]);
    await waitForStop(signal);
    out.info("Stopping: letting requests in flight finish…");
    try {
      await Promise.allSettled([server.shutdown(), publishServer?.shutdown()]);
      await team.close();
    } finally {
      watcher?.close();
      log.flush();
    }
    return 0;
  },
});

/** What the flags ask for, checked before anything is opened or listened on. */
async function readSettings(
  dirArg: string | undefined,
  options: TypedFlags<typeof SERVE_FLAGS>,
  env: Record<string, string | undefined>,
  out: Output,
) {
  const listen = parseListen(options.listen);
  const accessLog = options["access-log"];
  if (accessLog !== "on" && accessLog !== "off") {
    throw new UsageError(`Cannot use --access-log "${accessLog}": expected on or off`);
  }
  const tls = await loadTls(options["tls-cert"], options["tls-key"]);
  const clientCaPath = options["client-ca"];
  if (clientCaPath !== undefined && !tls) {
    throw new UsageError("Cannot use --client-ca without --tls-cert and --tls-key");
  }
  const clientCa = clientCaPath === undefined ? undefined : await loadClientCa(clientCaPath);
  const publishListenFlag = options["publish-listen"];
  const publishListen = publishListenFlag === undefined
    ? undefined
    : parseListen(publishListenFlag, undefined, "--publish-listen");
  if (
    publishListen && publishListen.port !== 0 && publishListen.port === listen.port &&
    publishListen.hostname === listen.hostname
  ) {
    throw new UsageError(
      `Cannot use --publish-listen "${publishListenFlag}": it is the --listen address`,
    );
  }
  const location = dirArg ?? await demoMirror(env, out);
  const s3 = isS3Location(location);
  const revalidateMs = revalidateInterval(options["revalidate-interval"], s3);
  const redirectLarge = options["redirect-large"];
  const redirectBytes = redirectLarge === undefined
    ? undefined
    : parseSize(redirectLarge, "--redirect-large", "flags");
  const redirectOrigin = options["redirect-origin"];
  if (redirectOrigin !== undefined) {
    if (redirectLarge === undefined) {
      throw new UsageError("Cannot use --redirect-origin without --redirect-large");
    }
    const url = URL.canParse(redirectOrigin) ? new URL(redirectOrigin) : undefined;
    if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== "/" || url.search !== "") {
      throw new UsageError(
        `Cannot use --redirect-origin "${redirectOrigin}": expected http(s)://HOST[:PORT]`,
      );
    }
  }
  if (redirectLarge !== undefined && !s3) {
    throw new UsageError(
      `Cannot use --redirect-large with "${location}": only an s3:// mirror can redirect ` +
        `clients to its objects`,
    );
  }
  return {
    listen,
    accessLog: accessLog === "on",
    // `server`: the certificate alone; `all`: with the client CA, the listener's that has it.
    tls: tls
      ? { server: tls, all: { ...tls, ...(clientCa !== undefined ? { clientCa } : {}) } }
      : undefined,
    publishListen,
    location,
    s3,
    revalidateMs,
    redirectBytes,
    redirectOrigin,
  };
}

/** The start-up lines, then how to use the server from a client. */
async function printStarted(
  out: Output,
  env: Record<string, string | undefined>,
  storage: StorageReader,
  url: string,
  lines: string[],
): Promise<void> {
  for (const line of lines) out.info(line);
  // From a checkout (npm start, scripts/ferry) "ferry" is not on the PATH: those scripts say
  // how ferry is run there, so the hint can be pasted as it is.
  const ferry = env.FERRY_HINT_COMMAND || "ferry";
  out.info(`Next: ${ferry} mirror set ${url}   then: ${ferry} list`);
  if (await storage.stat("install.sh").then(() => true, () => false)) {
    out.info(`      or install ferry on another machine: curl -fsSL ${url}/install.sh | sh`);
  }
  out.info("Press Ctrl-C to stop.");
}

/**
 * How stale a file kept in memory may get: on disk, where a watch reports most changes at once,
 * only where no notification arrives; on a bucket always, so there it is a little longer (one
 * HEAD per kept file per interval and replica is what the object store sees).
 */
const REVALIDATE_MS = { directory: 1000, bucket: 2000 };

function revalidateInterval(flag: string | undefined, s3: boolean): number {
  if (flag === undefined) return s3 ? REVALIDATE_MS.bucket : REVALIDATE_MS.directory;
  const ms = parseDuration(flag, "--revalidate-interval", "flags");
  if (ms < 1) {
    throw new UsageError(
      `Cannot use --revalidate-interval "${flag}": it must be at least 1ms (files kept in ` +
        `memory must be revalidated)`,
    );
  }
  return ms;
}

async function demoMirror(env: Record<string, string | undefined>, out: Output): Promise<string> {
  const demo = await ensureDemoMirror(nodePath.join(ferryHome(env), "demo-mirror"));
  if (demo.created) out.info(`Created a demo mirror in ${demo.dir}`);
  return demo.dir;
}

/**
 * Checks the bucket answers and holds a mirror before listening, so that a wrong endpoint,
 * credentials or prefix stops the start with its reason rather than turning into 404s and 500s.
 */
async function checkServableBucket(storage: StorageReader): Promise<void> {
  try {
    await storage.stat("root.json");
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new UsageError(
        `Cannot serve "${storage.location}": it holds no mirror (no root.json under the ` +
          `prefix, or no such bucket); create one with "ferry mirror init ${storage.location}" ` +
          `or "ferry mirror clone ${storage.location}"`,
      );
    }
    throw error;
  }
}

function describeError(error: unknown): string {
  return (error as { code?: string })?.code ?? String((error as Error)?.message ?? error);
}

async function checkServableDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new UsageError(`Cannot serve "${dir}": no such directory`);
  if (!info.isDirectory()) throw new UsageError(`Cannot serve "${dir}": it is not a directory`);
  await access(dir, fsConstants.R_OK | fsConstants.X_OK).catch(() => {
    throw new UsageError(`Cannot serve "${dir}": permission denied`);
  });
}

/**
 * Collects access-log lines and prints them together: at most every 50 ms, or at once past
 * 64 KiB. One write per request was a large share of the time spent on a small manifest.
 */
function batchedLines(print: (text: string) => void) {
  let lines: string[] = [];
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (lines.length === 0) return;
    const text = lines.join("\n");
    lines = [];
    bytes = 0;
    print(text);
  };
  return {
    add(line: string) {
      lines.push(line);
      bytes += line.length + 1;
      if (bytes >= 64 * 1024) flush();
      else timer ??= setTimeout(flush, 50);
    },
    flush,
  };
}
