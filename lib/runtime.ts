/**
 * The runtime adapter: the only module that touches `Deno.*` or `Bun.*`. Everything else in
 * ferry uses web standards and `node:` built-ins, so the same code runs under Deno (tests),
 * Bun (tests and the compiled binary) and, for the parts that do not serve HTTP, Node.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";

/** Which runtime is executing ferry. */
export type RuntimeName = "bun" | "deno" | "node";

interface BunFile extends Blob {
  slice(start?: number, end?: number): Blob;
}
interface BunServer {
  port: number;
  hostname: string;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
  requestIP(request: Request): { address: string } | null;
}
interface BunGlobal {
  version: string;
  file(path: string): BunFile;
  serve(options: Record<string, unknown>): BunServer;
}
interface DenoServer {
  addr: { hostname: string; port: number };
  finished: Promise<void>;
  shutdown(): Promise<void>;
}
interface DenoGlobal {
  version: { deno: string };
  createHttpClient(options: { caCerts?: string[] }): unknown;
  serve(
    options: Record<string, unknown>,
    handler: (
      request: Request,
      info: { remoteAddr: { hostname: string } },
    ) => Response | Promise<Response>,
  ): DenoServer;
}

const runtimeGlobals = globalThis as unknown as { Bun?: BunGlobal; Deno?: DenoGlobal };

/** Reports the runtime this process runs on. */
export function runtimeName(): RuntimeName {
  if (runtimeGlobals.Bun) return "bun";
  if (runtimeGlobals.Deno) return "deno";
  return "node";
}

/** A human-readable runtime and version, for `ferry --version --debug` and logs. */
export function runtimeVersion(): string {
  if (runtimeGlobals.Bun) return `bun ${runtimeGlobals.Bun.version}`;
  if (runtimeGlobals.Deno) return `deno ${runtimeGlobals.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}

/**
 * A response body for bytes `start`..`end` (inclusive) of a local file. On Bun it is a lazy
 * file Blob, which Bun.serve sends with sendfile(2) without copying through JavaScript; elsewhere
 * it is a stream read in 256 KiB chunks, so memory stays flat for any file size.
 */
export function fileBody(
  path: string,
  start: number,
  end: number,
): Blob | ReadableStream<Uint8Array> {
  if (runtimeGlobals.Bun) return runtimeGlobals.Bun.file(path).slice(start, end + 1);
  if (end < start) return new Blob([]);
  const stream = createReadStream(path, { start, end, highWaterMark: 256 * 1024 });
  return Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
}

/**
 * A fetch that trusts `ca` (PEM) in addition to the system roots, for upstreams with a private
 * CA. Bun takes it as the `tls.ca` init option; Deno through an HTTP client with `caCerts`.
 */
export function fetchTrustingCa(ca: string): typeof fetch {
  const deno = runtimeGlobals.Deno;
  if (deno) {
    const client = deno.createHttpClient({ caCerts: [ca] });
    return ((input: string | URL | Request, init?: RequestInit) =>
      fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
  }
  return ((input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, tls: { ca } } as RequestInit)) as typeof fetch;
}

/** The request handler a server runs: a web-standard fetch handler plus the client address. */
export type FetchHandler = (
  request: Request,
  info: { remoteAddress: string },
) => Response | Promise<Response>;

/** Options for {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM text of the certificate chain and private key, for HTTPS. */
  tls?: { cert: string; key: string };
}

/** A running server. */
export interface RunningServer {
  hostname: string;
  port: number;
  /** The base URL clients use, e.g. "http://127.0.0.1:8080". */
  url: string;
  /** Stops accepting connections and lets requests in flight finish (bounded by `graceMs`). */
  shutdown(graceMs?: number): Promise<void>;
}

/** Thrown when the address cannot be bound (in use, not local, no permission). */
export class ListenError extends Error {
  override name = "ListenError";
}

/**
 * Serves `handler` on hostname:port with the runtime's native HTTP server (Bun.serve or
 * Deno.serve). Resolves once the socket is listening.
 */
export async function serveHttp(
  handler: FetchHandler,
  options: ServeHttpOptions,
): Promise<RunningServer> {
  const where = `${
    options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname
  }:${options.port}`;
  const scheme = options.tls ? "https" : "http";
  try {
    if (runtimeGlobals.Bun) return serveWithBun(runtimeGlobals.Bun, handler, options, scheme);
    if (runtimeGlobals.Deno) {
      return await serveWithDeno(runtimeGlobals.Deno, handler, options, scheme);
    }
    throw new Error(
      "serving HTTP needs Bun or Deno (run the ferry binary, or deno run -A main.ts)",
    );
  } catch (error) {
    throw new ListenError(`Cannot listen on ${where}: ${describeListenError(error)}`, {
      cause: error,
    });
  }
}

function describeListenError(error: unknown): string {
  const text = String((error as Error)?.message ?? error);
  const code = (error as { code?: string })?.code ?? "";
  const name = (error as { name?: string })?.name ?? "";
  if (code === "EADDRINUSE" || name === "AddrInUse" || /in use/i.test(text)) {
    return "the address is already in use (pick another with --listen)";
  }
  if (code === "EACCES" || name === "PermissionDenied") {
    return "permission denied (ports below 1024 need root)";
  }
  if (
    code === "EADDRNOTAVAIL" || name === "AddrNotAvailable" ||
    /not available|assign requested/i.test(text)
  ) {
    return "that address is not one of this machine's";
  }
  if (/certificate|pem|key|tls|ssl/i.test(text)) {
    return `the TLS certificate or key is not usable (${text})`;
  }
  return text;
}

function serveWithBun(
  bun: BunGlobal,
  handler: FetchHandler,
  options: ServeHttpOptions,
  scheme: string,
): RunningServer {
  const server: BunServer = bun.serve({
    hostname: options.hostname,
    port: options.port,
    // Slow LAN clients pulling a large tarball must not be cut off between writes.
    idleTimeout: 240,
    development: false,
    ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
    // The client address is looked up only if the handler asks (the access log does): it is a
    // noticeable share of the per-request cost on small files.
    fetch: (request: Request) =>
      handler(request, {
        get remoteAddress() {
          return server.requestIP(request)?.address ?? "-";
        },
      }),
  });
  const running = server;
  return {
    hostname: running.hostname,
    port: running.port,
    url: `${scheme}://${hostForUrl(options.hostname)}:${running.port}`,
    async shutdown(graceMs = 5000) {
      await Promise.race([
        Promise.resolve(running.stop(false)),
        new Promise((resolve) => setTimeout(resolve, graceMs)),
      ]);
      await running.stop(true);
    },
  };
}

async function serveWithDeno(
  deno: DenoGlobal,
  handler: FetchHandler,
  options: ServeHttpOptions,
  scheme: string,
): Promise<RunningServer> {
  let resolveListening: () => void = () => {};
  const listening = new Promise<void>((resolve) => (resolveListening = resolve));
  const server = deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
    onListen: () => resolveListening(),
  }, (request, info) => handler(request, { remoteAddress: info.remoteAddr.hostname }));
  await listening;
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    url: `${scheme}://${hostForUrl(options.hostname)}:${server.addr.port}`,
    async shutdown(graceMs = 5000) {
      await Promise.race([
        server.shutdown(),
        new Promise((resolve) => setTimeout(resolve, graceMs)),
      ]);
    },
  };
}

function hostForUrl(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "::") return "127.0.0.1";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
