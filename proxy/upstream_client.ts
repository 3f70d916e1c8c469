import { Buffer } from "node:buffer";
import type { RegistryEntry } from "./proxy_config.ts";
import { type AuthChallenge, parseChallenge } from "./parse_challenge.ts";
import { UpstreamUnavailableError } from "./upstream_error.ts";

/** What the upstream client reports after each upstream exchange (for metrics and logs). */
export interface UpstreamEvent {
  registry: string;
  method: string;
  url: string;
  /** The HTTP status, or "error" when no response arrived. */
  status: number | "error";
  /** Why a request is being retried, when it is. */
  retry?: boolean;
}

/** Options for {@linkcode UpstreamClient}. */
export interface UpstreamClientOptions {
  fetch: typeof fetch;
  /** Time to wait for response headers, and the longest pause between body chunks. */
  timeoutMs: number;
  /** Extra attempts after a network error, 429 or 5xx (GET/HEAD only, before any body byte). */
  retries: number;
  userAgent: string;
  now?: () => number;
  /** First retry delay; doubles per attempt. */
  retryDelayMs?: number;
  onEvent?: (event: UpstreamEvent) => void;
}

/** A request to one upstream registry. */
export interface UpstreamRequest {
  method: "GET" | "HEAD";
  /** The repository at the upstream, for the token scope. */
  repository: string;
  /** Path and query below the registry's origin: "/v2/library/nginx/manifests/latest". */
  path: string;
  headers?: Record<string, string>;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const MAX_TOKEN_BYTES = 64 * 1024;

/**
 * Talks to one upstream registry on the proxy's behalf. Guarantees:
 * - authentication is done here, never by the client: a 401 challenge is answered with Basic
 *   credentials or a Bearer token from the challenge's realm (anonymous or with the configured
 *   credentials), tokens are cached per scope until they expire, and concurrent requests share
 *   one token fetch; the upstream's challenge never reaches the caller unless auth fails;
 * - HEAD stays HEAD; redirects are followed here (up to 5) and `Authorization` is never sent to a
 *   different origin (OCI distribution spec: clients MUST NOT send it across hosts);
 * - a response must start within `timeoutMs` and its body may not stall longer than that;
 * - network errors, 429 and 5xx are retried `retries` times with backoff; what still fails is
 *   an {@linkcode UpstreamUnavailableError} (no response) or the final response.
 */
export class UpstreamClient {
  readonly #registry: RegistryEntry;
  readonly #options: UpstreamClientOptions;
  readonly #now: () => number;
  #challenge: AuthChallenge | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #tokenFetches = new Map<string, Promise<string>>();

  constructor(registry: RegistryEntry, options: UpstreamClientOptions) {
    this.#registry = registry;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Sends `request`, authenticating and following redirects; the body is left unread. */
  async request(request: UpstreamRequest): Promise<Response> {
    const url = new URL(request.path, this.#registry.url).href;
    let scope = `repository:${request.repository}:pull`;
    for (let attempt = 0;; attempt++) {
      const authorization = await this.#authorization(scope);
      const headers: Record<string, string> = {
        "user-agent": this.#options.userAgent,
        // Bytes must arrive exactly as stored: a transparently decompressed body would not
        // match its digest or its Content-Length.
        "accept-encoding": "identity",
        ...request.headers,
      };
      if (authorization) headers.authorization = authorization;
      const response = await this.#followRedirects(request.method, url, headers);
      if (response.status !== 401 || attempt > 0) return response;
      const challenges = parseChallenge(response.headers.get("www-authenticate"));
      const challenge = challenges.find((c) => c.scheme === "bearer") ??
        challenges.find((c) => c.scheme === "basic");
      if (!challenge) return response;
      if (challenge.scheme === "basic" && this.#registry.username === undefined) return response;
      await response.body?.cancel().catch(() => {});
      this.#challenge = challenge;
      if (challenge.scheme === "bearer") {
        scope = challenge.params.scope || scope;
        this.#tokens.delete(scope);
      }
    }
  }

  async #authorization(scope: string): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") return this.#basic();
    if (challenge.scheme !== "bearer") return undefined;
    const cached = this.#tokens.get(scope);
    if (cached && cached.expiresAt > this.#now()) return `Bearer ${cached.value}`;
    let pending = this.#tokenFetches.get(scope);
    if (!pending) {
      pending = this.#fetchToken(challenge, scope).finally(() => this.#tokenFetches.delete(scope));
      this.#tokenFetches.set(scope, pending);
    }
    return `Bearer ${await pending}`;
  }

  #basic(): string | undefined {
    const { username, password } = this.#registry;
    if (username === undefined || password === undefined) return undefined;
    return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  }

  /** Docker token spec: GET <realm>?service=<service>&scope=<scope>, Basic credentials optional. */
  async #fetchToken(challenge: AuthChallenge, scope: string): Promise<string> {
    const realm = challenge.params.realm;
    const name = this.#registry.name;
    if (!realm) {
      throw new UpstreamUnavailableError(name, "network", `Registry "${name}" sent no token realm`);
    }
    const url = new URL(realm, this.#registry.url);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    url.searchParams.set("scope", scope);
    const headers: Record<string, string> = { "user-agent": this.#options.userAgent };
    const basic = this.#basic();
    if (basic) headers.authorization = basic;
    const started = this.#now();
    const response = await this.#fetchOnce("GET", url.href, headers);
    const text = await readCapped(response, MAX_TOKEN_BYTES);
    if (!response.ok) {
      throw new UpstreamUnavailableError(
        name,
        "network",
        `Cannot get a token for "${name}" from "${url.origin}${url.pathname}": ` +
          `it answered ${response.status}`,
      );
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      throw new UpstreamUnavailableError(
        name,
        "network",
        `Token answer from "${name}" is not JSON`,
      );
    }
    const token = typeof body.token === "string" && body.token !== ""
      ? body.token
      : typeof body.access_token === "string"
      ? body.access_token
      : "";
    if (token === "") {
      throw new UpstreamUnavailableError(
        name,
        "network",
        `Token answer from "${name}" has no token`,
      );
    }
    // Docker token spec: expires_in defaults to 60 seconds. Renew a little early.
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : 60;
    const margin = Math.min(30, lifetime / 4);
    this.#tokens.set(scope, { value: token, expiresAt: started + (lifetime - margin) * 1000 });
    return token;
  }

  async #followRedirects(
    method: "GET" | "HEAD",
    start: string,
    headers: Record<string, string>,
  ): Promise<Response> {
    let url = start;
    let current = headers;
    const origin = new URL(start).origin;
    for (let hop = 0;; hop++) {
      const response = await this.#fetchWithRetries(method, url, current);
      const location = response.headers.get("location");
      if (!REDIRECTS.has(response.status) || !location) return response;
      await response.body?.cancel().catch(() => {});
      if (hop === MAX_REDIRECTS) {
        throw new UpstreamUnavailableError(
          this.#registry.name,
          "network",
          `Registry "${this.#registry.name}" redirected more than ${MAX_REDIRECTS} times`,
        );
      }
      const next = new URL(location, url);
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw new UpstreamUnavailableError(
          this.#registry.name,
          "network",
          `Registry "${this.#registry.name}" redirected to an unsupported URL scheme`,
        );
      }
      url = next.href;
      if (next.origin !== origin) {
        const { authorization: _dropped, ...rest } = current;
        current = rest;
      }
    }
  }

  async #fetchWithRetries(
    method: "GET" | "HEAD",
    url: string,
    headers: Record<string, string>,
  ): Promise<Response> {
    const delay = this.#options.retryDelayMs ?? 200;
    for (let attempt = 0;; attempt++) {
      const last = attempt >= this.#options.retries;
      let response: Response;
      try {
        response = await this.#fetchOnce(method, url, headers);
      } catch (error) {
        this.#emit(method, url, "error", !last);
        if (last) throw error;
        await sleep(delay * 2 ** attempt);
        continue;
      }
      if (!last && (response.status === 429 || response.status >= 500)) {
        this.#emit(method, url, response.status, true);
        await response.body?.cancel().catch(() => {});
        await sleep(delay * 2 ** attempt);
        continue;
      }
      this.#emit(method, url, response.status);
      return response;
    }
  }

  /** One exchange with a header timeout; the body is wrapped with an idle timeout. */
  async #fetchOnce(method: string, url: string, headers: Record<string, string>) {
    const controller = new AbortController();
    const timeoutMs = this.#options.timeoutMs;
    let timedOut = false;
    let timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let response: Response;
    try {
      response = await this.#options.fetch(url, {
        method,
        headers,
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      const name = this.#registry.name;
      throw timedOut
        ? new UpstreamUnavailableError(
          name,
          "timeout",
          `Registry "${name}" did not answer within ${timeoutMs} ms`,
        )
        : new UpstreamUnavailableError(
          name,
          "network",
          `Cannot reach registry "${name}" at "${new URL(url).origin}": ${describe(error)}`,
          { cause: error },
        );
    }
    clearTimeout(timer);
    if (!response.body || method === "HEAD") return response;
    const reader = response.body.getReader();
    const registry = this.#registry.name;
    const body = new ReadableStream<Uint8Array>({
      async pull(streamController) {
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs);
        try {
          const { done, value } = await reader.read();
          if (done) streamController.close();
          else streamController.enqueue(value);
        } catch (error) {
          streamController.error(
            new UpstreamUnavailableError(
              registry,
              timedOut ? "timeout" : "network",
              timedOut
                ? `Registry "${registry}" stopped sending for ${timeoutMs} ms`
                : `Registry "${registry}" broke off a transfer: ${describe(error)}`,
              { cause: error },
            ),
          );
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  #emit(method: string, url: string, status: number | "error", retry = false) {
    this.#options.onEvent?.({
      registry: this.#registry.name,
      method,
      url,
      status,
      ...(retry ? { retry } : {}),
    });
  }
}

async function readCapped(response: Response, max: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}
