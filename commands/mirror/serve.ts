import { constants as fsConstants } from "node:fs";
import { access, stat } from "node:fs/promises";
import * as nodePath from "node:path";
import { type Command, stringFlag } from "../../lib/cli/command.ts";
import { ferryHome } from "../../lib/client/home_dir.ts";
import { UsageError } from "../../lib/errors.ts";
import { ensureDemoMirror } from "../../lib/mirror/demo_mirror.ts";
import { serveHttp } from "../../lib/runtime.ts";
import { loadTls } from "../../lib/server/load_tls.ts";
import { loadClientCa } from "../../lib/server/load_client_ca.ts";
import { createMirrorHandler } from "../../lib/server/mirror_server.ts";
import { parseListen } from "../../lib/server/parse_listen.ts";
import { watchDirectory } from "../../lib/server/watch_directory.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { REGISTRY_TABLE_FLAGS } from "../_registry_table_flags.ts";
import { serverFlags } from "../_server_flags.ts";
import { waitForStop } from "../_wait_for_stop.ts";
import { TEAM_SERVE_FLAGS, teamServices } from "./_serve_team.ts";

export const mirrorServeCommand: Command = {
  usage: "[DIR] [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE] [--publish] [--upstream URL]",
  description: `Serves DIR: GET/HEAD, Range, ETag/304, cache headers that let LAN caches keep
versioned files forever. The mirror's private keys/ directory is never served.
Without DIR, serves a demo mirror (created on first run under $FERRY_HOME/demo-mirror).
--publish adds TiUP's write API (POST /api/v1/...: owner-signed publishes, verified and
committed with the mirror's keys); --upstream URL fetches tarballs the mirror lists but lacks
(a "ferry mirror clone --no-tarballs" clone) on first request, verified, then kept.

Examples:
  ferry mirror serve                                  # the demo mirror on 127.0.0.1:8080
  ferry mirror serve /srv/mirror --listen 0.0.0.0:8080
  ferry mirror serve /srv/mirror --listen :8443 --tls-cert cert.pem --tls-key key.pem
  ferry mirror serve /srv/mirror --publish            # + TiUP's publish API (mirror publish --mirror URL)
  ferry mirror serve /srv/pkg --upstream https://tiup-mirrors.pingcap.com   # pull-through

Clients then run:  ferry mirror set http://HOST:PORT   (or tiup mirror set http://HOST:PORT)

Images saved into DIR ("ferry image save") are served on /v2/ from the same port:
  docker pull HOST:PORT/REGISTRY/REPO:TAG   (--default-registry/--alias as for ferry proxy)`,
  flags: {
    ...serverFlags("127.0.0.1:8080"),
    ...REGISTRY_TABLE_FLAGS,
    ...TEAM_SERVE_FLAGS,
  },
  positionals: { max: 1, names: "DIR" },
  async run({ args, flags, out, env, signal }) {
    const listen = parseListen(stringFlag(flags, "listen") ?? "127.0.0.1:8080");
    const accessLog = stringFlag(flags, "access-log") ?? "on";
    if (accessLog !== "on" && accessLog !== "off") {
      throw new UsageError(`Cannot use --access-log "${accessLog}": expected on or off`);
    }
    const tls = await loadTls(stringFlag(flags, "tls-cert"), stringFlag(flags, "tls-key"));
    const clientCaPath = stringFlag(flags, "client-ca");
    if (clientCaPath !== undefined && !tls) {
      throw new UsageError("Cannot use --client-ca without --tls-cert and --tls-key");
    }
    const clientCa = clientCaPath === undefined ? undefined : await loadClientCa(clientCaPath);
    let dir = args[0];
    if (dir === undefined) {
      const demo = await ensureDemoMirror(nodePath.join(ferryHome(env), "demo-mirror"));
      if (demo.created) out.info(`Created a demo mirror in ${demo.dir}`);
      dir = demo.dir;
    }
    await checkServableDirectory(dir);

    const log = batchedLines((text) => out.print(text));
    // Small files are answered from memory; the watch drops them as soon as the mirror changes,
    // the revalidation interval bounds staleness where no notification comes (NFS).
    const watcher = watchDirectory(dir, {
      onError: (error) =>
        out.warn(
          `Cannot watch "${dir}" for changes (${describeError(error)}): changed files are ` +
            `seen within ${REVALIDATE_MS} ms instead`,
        ),
    });
    const storage = new LocalStorage(dir);
    const handler = createMirrorHandler(storage, {
      // Loaded here: the registry table's YAML parser is not needed to show --help.
      v2: await (await import("../image/_bundle_handler.ts")).bundleHandler(
        storage,
        flags,
        (line) => out.warn(line),
      ),
      changes: watcher,
      revalidateMs: REVALIDATE_MS,
      ...(accessLog === "on" ? { onAccess: log.add } : {}),
    });
    let team;
    let server;
    try {
      team = await teamServices(dir, flags, handler, out);
      server = await serveHttp(team.handler, {
        hostname: listen.hostname,
        port: listen.port,
        ...(tls ? { tls: { ...tls, ...(clientCa !== undefined ? { clientCa } : {}) } } : {}),
        ...(team.maxRequestBodyBytes ? { maxRequestBodyBytes: team.maxRequestBodyBytes } : {}),
      });
    } catch (error) {
      await team?.close();
      watcher.close();
      throw error;
    }
    out.info(`Serving ${nodePath.resolve(dir)} at ${server.url}`);
    for (const line of team.describe) out.info(line);
    // From a checkout (npm start, scripts/ferry) "ferry" is not on the PATH: those scripts say
    // how ferry is run there, so the hint can be pasted as it is.
    const ferry = env.FERRY_HINT_COMMAND || "ferry";
    out.info(`Next: ${ferry} mirror set ${server.url}   then: ${ferry} list`);
    if (await stat(nodePath.join(dir, "install.sh")).then(() => true, () => false)) {
      out.info(
        `      or install ferry on another machine: curl -fsSL ${server.url}/install.sh | sh`,
      );
    }
    out.info("Press Ctrl-C to stop.");
    await waitForStop(signal);
    out.info("Stopping: letting requests in flight finish…");
    await server.shutdown();
    await team.close();
    watcher.close();
    log.flush();
    return 0;
  },
};

/** How stale a file kept in memory may get when no change notification arrives. */
const REVALIDATE_MS = 1000;

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
