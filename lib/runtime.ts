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
  gc(force: boolean): void;
  write(path: string, data: Response): Promise<number>;
}
interface DenoServer {
  addr: { hostname: string; port: number };
  finished: Promise<void>;
  shutdown(): Promise<void>;
}
interface DenoGlobal {
  version: { deno: string };
  createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): unknown;
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
 * Copies `response`'s body into the file at `path` inside the runtime, where it can (Bun: its
 * native fetch body goes from the socket to the file without a JavaScript call per chunk, about
 * a quarter of the CPU of a read loop); `undefined` elsewhere, for the caller to stream it. The
 * body is read to its end (at most its Content-Length on HTTP/1.1) and the bytes written are
 * returned; a connection that breaks off rejects.
 */
export function writeBodyToFile(path: string, response: Response): Promise<number> | undefined {
  return runtimeGlobals.Bun?.write(path, response);
}

/** True where {@linkcode writeBodyToFile} does the copy (Bun). */
export function canWriteBodyToFile(): boolean {
  return runtimeGlobals.Bun !== undefined;
}

/** PEM texts a client's TLS may add: a CA to trust, and a certificate and key to present. */
export interface ClientTls {
  /** Trusted in addition to the system roots (a private CA's certificate). */
  ca?: string;
  /** The client's certificate chain and private key, for servers that ask for one (mTLS). */
  cert?: string;
  key?: string;
}

/**
 * A fetch that trusts `ca` (PEM) in addition to the system roots, for upstreams with a private
 * CA. Bun takes it as the `tls.ca` init option; Deno through an HTTP client with `caCerts`.
 */
export function fetchTrustingCa(ca: string): typeof fetch {
  return fetchWithTls({ ca });
}

/**
 * A fetch with the client TLS settings `tls`: a private CA to trust, and a certificate to present
 * to servers that require one (`ferry mirror serve --client-ca`). Bun takes them as the `tls`
 * init option; Deno through an HTTP client (`caCerts`, `cert`, `key`).
 */
export function fetchWithTls(tls: ClientTls): typeof fetch {
  const deno = runtimeGlobals.Deno;
  if (deno) {
    const client = deno.createHttpClient({
      ...(tls.ca !== undefined ? { caCerts: [tls.ca] } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
    });
    return ((input: string | URL | Request, init?: RequestInit) =>
      fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
  }
  return ((input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, tls } as RequestInit)) as typeof fetch;
}

/** The request handler a server runs: a web-standard fetch handler plus the client address. */
export type FetchHandler = (
  request: Request,
  info: { remoteAddress: string },
) => Response | Promise<Response>;

/**
 * Collects garbage now where the runtime lets a program ask (Bun); a no-op elsewhere. A long
 * request body arrives on Bun as one fresh 64 KiB buffer per read, and Bun's collector lets tens
 * of MiB of spent ones pile up before it runs: a caller that streams gigabytes calls this every
 * few MiB to keep its footprint near what it actually holds (issue 14: an upload's RSS).
 */
export function collectGarbage(): void {
  runtimeGlobals.Bun?.gc(true);
}

/**
 * A pass-through stream that calls {@linkcode collectGarbage} every `everyBytes` bytes: for the
 * long streams (uploads, their copy into the mirror) whose spent chunks Bun lets pile up.
 */
export function collectingGarbageEvery(
  everyBytes: number,
): TransformStream<Uint8Array, Uint8Array> {
  let since = 0;
  return new TransformStream({
    transform(chunk, controller) {
      since += chunk.length;
      if (since >= everyBytes) {
        since = 0;
        collectGarbage();
      }
      controller.enqueue(chunk);
    },
  });
}

/** Options for {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * PEM text of the certificate chain and private key, for HTTPS; with `clientCa`, every
   * connection must present a client certificate signed by it (refused in the TLS handshake).
   * Only Bun can: Deno.serve has no option to request a client certificate.
   */
  tls?: { cert: string; key: string; clientCa?: string };
  /** Largest request body accepted (Bun's default is 128 MiB; uploads need more). */
  maxRequestBodyBytes?: number;
  /** The flag that chose the address, named when it cannot be bound; default `--listen`. */
  listenFlag?: string;
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
    const flag = options.listenFlag ?? "--listen";
    throw new ListenError(`Cannot listen on ${where}: ${describeListenError(error, flag)}`, {
      cause: error,
    });
  }
}

function describeListenError(error: unknown, flag: string): string {
  const text = String((error as Error)?.message ?? error);
  const code = (error as { code?: string })?.code ?? "";
  const name = (error as { name?: string })?.name ?? "";
  if (code === "EADDRINUSE" || name === "AddrInUse" || /in use/i.test(text)) {
    return `the address is already in use (pick another with ${flag})`;
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
    // With development off Bun sets SO_REUSEPORT unless told not to: a second ferry on the same
    // port then started without an error and the kernel split the clients between the two.
    reusePort: false,
    ...(options.tls ? { tls: bunTls(options.tls) } : {}),
    ...(options.maxRequestBodyBytes ? { maxRequestBodySize: options.maxRequestBodyBytes } : {}),
    // The client address is looked up only if the handler asks (the access log does): Bun
    // answers it with a getpeername(2) per call, the one system call of a request answered
    // from memory besides the socket's own read and write.
    fetch: (request: Request) => handler(request, new BunClientInfo(server, request)),
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

/**
 * Bun.serve's TLS options. A client CA makes the whole listener mutual: Bun checks the client's
 * certificate in the handshake but does not show a request which certificate (if any) came with
 * it (oven-sh/bun#14097), so a per-path policy (writes need one, reads do not) cannot be had.
 */
function bunTls(tls: NonNullable<ServeHttpOptions["tls"]>): Record<string, unknown> {
  const base = { cert: tls.cert, key: tls.key };
  if (tls.clientCa === undefined) return base;
  return { ...base, ca: tls.clientCa, requestCert: true, rejectUnauthorized: true };
}

/** The client address of one request, looked up on first use (a prototype getter: no closure). */
class BunClientInfo {
  #server: BunServer;
  #request: Request;
  constructor(server: BunServer, request: Request) {
    this.#server = server;
    this.#request = request;
  }
  get remoteAddress(): string {
    return this.#server.requestIP(this.#request)?.address ?? "-";
  }
}

async function serveWithDeno(
  deno: DenoGlobal,
  handler: FetchHandler,
  options: ServeHttpOptions,
  scheme: string,
): Promise<RunningServer> {
  if (options.tls?.clientCa !== undefined) {
    // Deno.serve's TLS options are a certificate and key only (no CA, no client-certificate
    // request: denoland/deno#26825); silently serving without the check would be worse.
    throw new Error(
      "requiring client certificates needs the Bun runtime (the ferry binary): Deno.serve cannot request them",
    );
  }
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

/** An exclusive flock(2) on an open file, held until `release()` or until the process dies. */
export interface FileLock {
  /** Replaces the file's content in place: the inode stays the one that is locked. */
  write(text: string): Promise<void>;
  /** Unlocks and closes the file (idempotent). The file itself stays, as TiUP leaves it. */
  release(): Promise<void>;
}

/** Whether {@linkcode tryLockFile} works here (Bun and Deno; not Node). */
export function fileLocksSupported(): boolean {
  return Boolean(runtimeGlobals.Bun || runtimeGlobals.Deno);
}

/** Thrown when this runtime cannot take file locks (Node: no flock without a native addon). */
export class FileLockUnsupportedError extends Error {
  override name = "FileLockUnsupportedError";
}

interface DenoFsFile {
  tryLock(exclusive?: boolean): Promise<boolean>;
  truncate(length?: number): Promise<void>;
  seek(offset: number, whence: number): Promise<number>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}
interface DenoFileApi {
  open(path: string, options: Record<string, unknown>): Promise<DenoFsFile>;
}

/**
 * Opens `path` (created with mode 0600 if absent, never truncated) and tries to take an
 * exclusive flock(2) on it without waiting, the lock TiUP's writer takes on `<mirror>/lock`
 * (gofrs/flock: flock(LOCK_EX) on that file). Returns undefined when another open file holds it
 * — another process, or another open of the same file in this one. flock(2), not fcntl(2)
 * record locks: those would not exclude a TiUP writer, and they are dropped when any descriptor
 * of the file in the process is closed. Deno's `FsFile.tryLock` is flock(2) on Linux and macOS;
 * Bun has no lock API, so it calls libc's flock through `bun:ffi`.
 */
export async function tryLockFile(path: string): Promise<FileLock | undefined> {
  const deno = runtimeGlobals.Deno as unknown as DenoFileApi | undefined;
  if (deno && !runtimeGlobals.Bun) {
    const file = await deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    let locked = false;
    try {
      locked = await file.tryLock(true);
    } finally {
      if (!locked) file.close();
    }
    if (!locked) return undefined;
    let open = true;
    return {
      async write(text) {
        await file.truncate(0);
        await file.seek(0, 0);
        const bytes = new TextEncoder().encode(text);
        for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      },
      // deno-lint-ignore require-await
      async release() {
        if (open) file.close(); // closing the last descriptor drops the flock
        open = false;
      },
    };
  }
  if (!runtimeGlobals.Bun) {
    throw new FileLockUnsupportedError("file locks need Bun or Deno");
  }
  const libc = await bunLibc();
  const fs = await import("node:fs");
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const LOCK_EX = 2, LOCK_NB = 4;
  if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = libc.errno();
    fs.closeSync(fd);
    if (errno === EWOULDBLOCK) return undefined;
    throw Object.assign(new Error(`flock("${path}") failed with errno ${errno}`), { errno });
  }
  let open = true;
  return {
    // deno-lint-ignore require-await
    async write(text) {
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, text, 0);
    },
    // deno-lint-ignore require-await
    async release() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

const EWOULDBLOCK = process.platform === "darwin" ? 35 : 11;

interface Libc {
  flock(fd: number, operation: number): number;
  errno(): number;
}
let libcPromise: Promise<Libc> | undefined;

/** libc's flock and errno through bun:ffi, loaded once. */
function bunLibc(): Promise<Libc> {
  libcPromise ??= (async () => {
    // A computed specifier: Deno's type checker never tries to resolve Bun's built-in module.
    const specifier = ["bun", "ffi"].join(":");
    const ffi = await import(specifier);
    const darwin = process.platform === "darwin";
    const errnoName = darwin ? "__error" : "__errno_location";
    const lib = ffi.dlopen(darwin ? "libc.dylib" : "libc.so.6", {
      flock: { args: ["i32", "i32"], returns: "i32" },
      [errnoName]: { args: [], returns: "ptr" },
    });
    return {
      flock: (fd: number, operation: number) => lib.symbols.flock(fd, operation) as number,
      errno: () => ffi.read.i32(lib.symbols[errnoName]()) as number,
    };
  })();
  return libcPromise;
}
