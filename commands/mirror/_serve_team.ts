/**
 * What `ferry mirror serve` adds for a team (folder-private): the publish API (`--publish`) in
 * front of the static mirror, and the pull-through of missing tarballs (`--upstream`). Kept out
 * of serve.ts so the command itself stays a few lines longer only.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import * as nodePath from "node:path";
import type { FlagSpec, FlagValues } from "../../lib/cli/command.ts";
import { stringFlag } from "../../lib/cli/command.ts";
import { booleanFlag } from "../../lib/cli/command.ts";
import type { Output } from "../../lib/cli/output.ts";
import { UsageError } from "../../lib/errors.ts";
import {
  createPublishApi,
  PUBLISH_API_PREFIX,
  type PublishEvent,
} from "../../lib/server/publish_api/create_publish_api.ts";
import { UploadSessions } from "../../lib/server/publish_api/upload_sessions.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";
import { parseSize } from "../../proxy/parse_proxy_config.ts";

/** The flags `mirror serve` takes for the team services. */
export const TEAM_SERVE_FLAGS: Record<string, FlagSpec> = {
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
};

/** The request handler to run and what to stop at shutdown. */
export interface TeamServices {
  handler: (
    request: Request,
    info: { remoteAddress: string },
  ) => Response | Promise<Response>;
  describe: string[];
  close(): Promise<void>;
}

/** Wraps the static handler with the services the flags ask for. */
export async function teamServices(
  dir: string,
  flags: FlagValues,
  staticHandler: TeamServices["handler"],
  out: Output,
): Promise<TeamServices> {
  const describe: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  let handler = staticHandler;
  if (booleanFlag(flags, "publish")) {
    const maxBytes = parseSize(stringFlag(flags, "max-upload") ?? "4GiB", "--max-upload", "flags");
    const tokenFile = stringFlag(flags, "publish-token-file");
    const token = tokenFile === undefined ? undefined : await readToken(tokenFile);
    const keyDir = stringFlag(flags, "key-dir");
    const storage = new LocalStorage(dir);
    const sessions = new UploadSessions(nodePath.join(dir, ".ferry-uploads"), { maxBytes });
    const api = createPublishApi(storage, {
      sessions,
      ...(keyDir ? { keys: { storage: new LocalStorage(keyDir), prefix: "" } } : {}),
      ...(token !== undefined ? { token } : {}),
      onEvent: (event) => report(out, event),
    });
    const inner = handler;
    handler = (request, info) =>
      new URL(request.url).pathname.startsWith(PUBLISH_API_PREFIX)
        ? api.fetch(request, info)
        : inner(request, info);
    closers.push(() => sessions.close());
    describe.push(
      `Publish API on: ${
        token !== undefined ? "bearer token required, " : ""
      }uploads up to ${maxBytes} bytes`,
    );
  } else if (stringFlag(flags, "key-dir") || stringFlag(flags, "publish-token-file")) {
    throw new UsageError(`Cannot use --key-dir or --publish-token-file without --publish`);
  }
  return {
    handler,
    describe,
    async close() {
      for (const close of closers) await close();
    },
  };
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
