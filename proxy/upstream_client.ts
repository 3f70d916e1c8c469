import { Buffer } from "node:buffer";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { RegistryEntry } from "./proxy_config.ts";
import { type AuthChallenge, parseChallenge } from "./parse_challenge.ts";
import { CircuitBreaker } from "./circuit_breaker.ts";
import { type ResolveHost, resolveWithDns, TargetGuard } from "./_target_guard.ts";
import { UpstreamUnavailableError } from "./upstream_error.ts";
import { fetchAttempt } from "../lib/http/fetch_attempt.ts";
import { type BodyFailure, guardBody } from "../lib/http/guard_body.ts";
import { offerFileTransfer } from "../lib/http/body_file_transfer.ts";
import { decodedLength } from "../lib/http/fetch_policy.ts";
import { retryTransient } from "../lib/http/retry_transient.ts";

/** What the upstream client reports after each upstream exchange (for metrics and logs). */
export interface UpstreamEvent {
  registry: string;
  method: string;
  url: string;
  /** The HTTP status, or "error" when no response arrived. */
  status: number | "error";
  /** Why a request is being retried, when it is. */
  retry?: boolean;
  /** "body": the response had started and its body broke off (status is then "error"). */
  phase?: "body";
}

/** Options for {@linkcode UpstreamClient}. */
export interface UpstreamClientOptions {
  fetch: typeof fetch;
  /** Time to wait for response headers, and the longest pause between body chunks. */
  timeoutMs: number;
  /**
   * Extra attempts after a network error or a transient status (408, 429, 502, 503, 504; a
   * Retry-After within bounds); not after a timeout; before any body byte.
   */
  retries: number;
  userAgent: string;
  now?: Clock;
  /** First retry delay; doubles per attempt. */
  retryDelayMs?: number;
  /** Failures in a row after which the upstream counts as down (default 3). */
  breakerFailures?: number;
  /** How long a down upstream is not asked before one probe (default 15 s). */
  breakerCooldownMs?: number;
  /** Resolves redirect and realm hosts for the private-network check (default: DNS). */
  resolveHost?: ResolveHost;
  onEvent?: (event: UpstreamEvent) => void;
  /** Notes for the operator (credentials withheld from a realm the config does not name). */
  onLog?: (line: string) => void;
}

/** A request to one upstream registry. */
export interface UpstreamRequest {
  /** POST, PUT and PATCH are for `ferry image push`; the proxy itself only reads. */
  method: UpstreamMethod;
  /** The repository at the upstream, for the token scope. */
  repository: string;
  /** The token scope's actions (default "pull"; a push asks for "pull,push"). */
  actions?: string;
  /** A request body, in memory so that it can be sent again after a 401 or a redirect. */
  body?: Uint8Array;
  /** Path and query below the registry's origin: "/v2/library/nginx/manifests/latest". */
  path: string;
  headers?: Record<string, string>;
  /**
   * The whole exchange (token fetch, retries, redirects) must have its answer within this long;
   * a revalidation uses a short one so that a stale answer is not held up by a hung upstream.
   */
  deadlineMs?: number;
}

/** The methods an upstream request may use. */
export type UpstreamMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH";

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
 *   credentials or a Bearer token from the challenge's realm, tokens are cached per scope until
 *   they expire, and concurrent requests share one token fetch; the upstream's challenge never
 *   reaches the caller unless auth fails;
 * - the configured credentials go only to the registry's own origin and to the token realms the
 *   config names for it (`tokenRealms`); a realm elsewhere gets an anonymous token request, and
 *   a challenge that comes from any other origin (a redirect target) is never answered or kept;
 * - HEAD stays HEAD; redirects are followed here (up to 5), `Authorization` is never sent to a
 *   different origin (OCI distribution spec: clients MUST NOT send it across hosts), and neither
 *   a redirect nor a token realm may lead into loopback, link-local or private networks
 *   (resolved, v4 and v6) unless the registry itself is in such a network;
 * - a response must start within `timeoutMs` (and the request's `deadlineMs`) and its body may
 *   not stall longer than `timeoutMs`;
 * - network errors and transient statuses (408, 429, 502-504) are retried `retries` times
 *   with backoff, under lib/http's retry policy (a Retry-After beyond its bound is not waited
 *   for); a timeout is not (a hung upstream would cost `timeoutMs` per attempt), nor a
 *   certificate that does not verify or a refused redirect (they would fail again); after
 *   `breakerFailures` failures in a row the upstream counts as down and requests fail at once
 *   for `breakerCooldownMs`, then one probe goes out; what still fails is an
 *   {@linkcode UpstreamUnavailableError} (no response) or the final response.
 */
export class UpstreamClient {
  readonly #registry: RegistryEntry;
  readonly #options: UpstreamClientOptions;
  readonly #now: () => number;
  readonly #origin: string;
  readonly #tokenRealms: Set<string>;
  readonly #guard: TargetGuard;
  readonly #breaker: CircuitBreaker;
  #challenge: AuthChallenge | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #tokenFetches = new Map<string, Promise<string>>();
  readonly #withheldFrom = new Set<string>();

  constructor(registry: RegistryEntry, options: UpstreamClientOptions) {
    this.#registry = registry;
    this.#options = options;
    const clock = options.now ?? systemClock;
    this.#now = () => clock().getTime();
    this.#origin = new URL(registry.url).origin;
    this.#tokenRealms = new Set((registry.tokenRealms ?? []).map(realmKey));
    this.#guard = new TargetGuard(registry.url, options.resolveHost ?? resolveWithDns);
    this.#breaker = new CircuitBreaker({
      failures: options.breakerFailures ?? 3,
      cooldownMs: options.breakerCooldownMs ?? 15_000,
      now: clock,
    });
  }

  /** Sends `request`, authenticating and following redirects; the body is left unread. */
  async request(request: UpstreamRequest): Promise<Response> {
    const url = new URL(request.path, this.#registry.url).href;
    const deadline = request.deadlineMs === undefined
      ? Infinity
      : performance.now() + request.deadlineMs;
    let scope = `repository:${request.repository}:${request.actions ?? "pull"}`;
    for (let attempt = 0;; attempt++) {
      const authorization = await this.#authorization(scope, deadline);
      const headers: Record<string, string> = {
        "user-agent": this.#options.userAgent,
        // Bytes must arrive exactly as stored: a transparently decompressed body would not
        // match its digest or its Content-Length.
        "accept-encoding": "identity",
        ...request.headers,
      };
      if (authorization) headers.authorization = authorization;
      const { response, origin } = await this.#followRedirects(
        request.method,
        url,
        headers,
        deadline,
        request.body,
      );
      if (response.status !== 401 || attempt > 0) return response;
      // A challenge from a redirect target is not the registry's: answering it would hand our
      // credentials (or a token request) to whoever the upstream pointed at.
      if (origin !== this.#origin) return response;
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

  async #authorization(scope: string, deadline: number): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") return this.#basic();
    if (challenge.scheme !== "bearer") return undefined;
    const cached = this.#tokens.get(scope);
    if (cached && cached.expiresAt > this.#now()) return `Bearer ${cached.value}`;
    let pending = this.#tokenFetches.get(scope);
    if (!pending) {
      pending = this.#fetchToken(challenge, scope, deadline).finally(() =>
        this.#tokenFetches.delete(scope)
      );
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
  async #fetchToken(challenge: AuthChallenge, scope: string, deadline: number): Promise<string> {
    const realm = challenge.params.realm;
    const name = this.#registry.name;
    if (!realm) {
      throw new UpstreamUnavailableError(name, "network", `Registry "${name}" sent no token realm`);
    }
    let url: URL;
    try {
      url = new URL(realm, this.#registry.url);
    } catch {
      throw new UpstreamUnavailableError(name, "refused", `Registry "${name}" sent a bad realm`);
    }
    await this.#checkTarget(url, "sent a token realm at");
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    url.searchParams.set("scope", scope);
    const headers: Record<string, string> = { "user-agent": this.#options.userAgent };
    const basic = this.#basic();
    // Docker Hub's realm (auth.docker.io) is not the registry's origin: such realms get the
    // credentials only when the config names them.
    if (basic && (url.origin === this.#origin || this.#tokenRealms.has(realmKey(url.href)))) {
      headers.authorization = basic;
    } else if (basic && !this.#withheldFrom.has(realmKey(url.href))) {
      this.#withheldFrom.add(realmKey(url.href));
      this.#options.onLog?.(
        `Not sending the credentials of registry "${name}" to token realm ` +
          `"${realmKey(url.href)}" (another origin); asking it anonymously. If it is the ` +
          `registry's token server, add it to tokenRealms`,
      );
    }
    const started = this.#now();
    const response = await this.#exchange("GET", url.href, headers, deadline);
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
    method: UpstreamMethod,
    start: string,
    headers: Record<string, string>,
    deadline: number,
    body?: Uint8Array,
  ): Promise<{ response: Response; origin: string }> {
    let url = start;
    let current = headers;
    const origin = new URL(start).origin;
    for (let hop = 0;; hop++) {
      const response = await this.#fetchWithRetries(method, url, current, deadline, body);
      const location = response.headers.get("location");
      if (!REDIRECTS.has(response.status) || !location) {
        return { response, origin: new URL(url).origin };
      }
      await response.body?.cancel().catch(() => {});
      const name = this.#registry.name;
      if (hop === MAX_REDIRECTS) {
        throw new UpstreamUnavailableError(
          name,
          "refused",
          `Registry "${name}" redirected more than ${MAX_REDIRECTS} times`,
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new UpstreamUnavailableError(
          name,
          "refused",
          `Registry "${name}" sent a bad redirect`,
        );
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw new UpstreamUnavailableError(
          name,
          "refused",
          `Registry "${name}" redirected to an unsupported URL scheme`,
        );
      }
      await this.#checkTarget(next, "redirected to");
      url = next.href;
      if (next.origin !== origin) {
        const { authorization: _dropped, ...rest } = current;
        current = rest;
      }
    }
  }

  /** Refuses a URL the upstream handed us that leads into a network the registry is not in. */
  async #checkTarget(url: URL, what: string): Promise<void> {
    const name = this.#registry.name;
    let refused;
    try {
      refused = await this.#guard.refusedScopes(url);
    } catch (error) {
      throw new UpstreamUnavailableError(
        name,
        "network",
        `Registry "${name}" ${what} "${url.host}", which cannot be resolved: ${describe(error)}`,
        { cause: error },
      );
    }
    if (refused.length > 0) {
      throw new UpstreamUnavailableError(
        name,
        "refused",
        `Registry "${name}" ${what} "${url.host}", a ${refused.join("/")} address; refused ` +
          "(only a registry configured inside such a network may point there)",
      );
    }
  }

  /** Exchanges under the shared retry policy (lib/http), told to the breaker and the metrics. */
  async #fetchWithRetries(
    method: UpstreamMethod,
    url: string,
    headers: Record<string, string>,
    deadline: number,
    body?: Uint8Array,
  ): Promise<Response> {
    // POST and PATCH (an upload session, a chunk) are never sent twice: retryTransient only
    // repeats idempotent methods.
    const { response } = await retryTransient(
      async () => ({ response: await this.#exchange(method, url, headers, deadline, body) }),
      { retries: this.#options.retries, retryDelayMs: this.#options.retryDelayMs ?? 200 },
      {
        method,
        deadline,
        // A timeout is not retried (a hung upstream would cost timeoutMs per attempt), nor a
        // refusal (a certificate that does not verify, a redirect into a private network).
        isTransientError: (error) =>
          error instanceof UpstreamUnavailableError && error.reason === "network",
        mayRetry: () => !this.#breaker.open,
        onAttempt: (status, retrying) => this.#emit(method, url, status, retrying),
      },
    );
    return response;
  }

  /** One exchange, unless the upstream is known to be down; its outcome feeds the breaker. */
  async #exchange(
    method: string,
    url: string,
    headers: Record<string, string>,
    deadline: number,
    body?: Uint8Array,
  ): Promise<Response> {
    const name = this.#registry.name;
    const blocked = this.#breaker.blockedFor();
    if (blocked > 0) {
      throw new UpstreamUnavailableError(
        name,
        "network",
        `Registry "${name}" is down (it failed repeatedly); not asking it again for ` +
          `${Math.ceil(blocked / 1000)} s`,
      );
    }
    let response: Response;
    try {
      response = await this.#fetchOnce(method, url, headers, deadline, body);
    } catch (error) {
      if (error instanceof UpstreamUnavailableError && error.reason !== "refused") {
        this.#breaker.failure();
      }
      throw error;
    }
    if (response.status >= 500) this.#breaker.failure();
    else this.#breaker.success();
    return response;
  }

  /** One exchange with a header timeout; the body is guarded by an idle timeout. */
  async #fetchOnce(
    method: string,
    url: string,
    headers: Record<string, string>,
    deadline: number,
    requestBody?: Uint8Array,
  ): Promise<Response> {
    const name = this.#registry.name;
    const { timeoutMs } = this.#options;
    const { response, abort } = await fetchAttempt(
      this.#options.fetch,
      url,
      {
        method,
        headers,
        ...(requestBody ? { body: requestBody as Uint8Array<ArrayBuffer> } : {}),
        redirect: "manual",
      },
      {
        timeoutMs: Math.min(timeoutMs, deadline - performance.now()),
        toError: ({ timedOut, waitedMs, error }) =>
          timedOut
            ? new UpstreamUnavailableError(
              name,
              "timeout",
              `Registry "${name}" did not answer within ${Math.round(waitedMs)} ms`,
            )
            : isCertificateError(error)
            ? new UpstreamUnavailableError(
              name,
              "refused",
              `Cannot trust registry "${name}" at "${new URL(url).origin}": its TLS ` +
                `certificate does not verify (${describe(error)}); configure its CA ("ca") if ` +
                "it is private",
              { cause: error },
            )
            : new UpstreamUnavailableError(
              name,
              "network",
              `Cannot reach registry "${name}" at "${new URL(url).origin}": ${describe(error)}`,
              { cause: error },
            ),
      },
    );
    if (!response.body || method === "HEAD") return response;
    const toError = (failure: BodyFailure) => {
      this.#emit(method, url, "error", false, "body");
      const error = failure.kind === "broken" ? failure.error : undefined;
      return new UpstreamUnavailableError(
        name,
        failure.kind === "stalled" ? "timeout" : "network",
        failure.kind === "stalled"
          ? `Registry "${name}" stopped sending for ${timeoutMs} ms`
          : failure.kind === "truncated"
          ? `Registry "${name}" broke off a transfer after ${failure.bytes} of the ` +
            `${failure.expected} bytes it announced`
          : `Registry "${name}" broke off a transfer: ${describe(error)}`,
        { cause: error },
      );
    };
    const body = guardBody(response.body, { idleMs: timeoutMs, abort, toError });
    const guarded = new Response(body, { status: response.status, headers: response.headers });
    // A blob of announced length may instead go straight to a cache file (BlobFetcher): the
    // same idle timeout guards it, and there is no overall deadline here either.
    const length = decodedLength(response);
    if (response.status === 200 && method === "GET" && length !== undefined) {
      offerFileTransfer(guarded, response, {
        idleMs: timeoutMs,
        deadline: Infinity,
        expectedBytes: length,
        abort,
        toError,
      });
    }
    return guarded;
  }

  #emit(method: string, url: string, status: number | "error", retry = false, phase?: "body") {
    this.#options.onEvent?.({
      registry: this.#registry.name,
      method,
      url,
      status,
      ...(retry ? { retry } : {}),
      ...(phase ? { phase } : {}),
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

/** A realm compared by origin and path: the query (service, scope) is ours to set. */
function realmKey(realm: string): string {
  const url = new URL(realm);
  return `${url.origin}${url.pathname}`;
}

// Bun reports OpenSSL's verification codes; Deno (rustls) has no code, only this wording.
const CERTIFICATE_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH",
]);

/** True for a fetch that failed because the server's certificate did not verify. */
function isCertificateError(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 4;
    e = e.cause as typeof e, i++
  ) {
    if (typeof e.code === "string" && CERTIFICATE_CODES.has(e.code)) return true;
    if (
      typeof e.message === "string" &&
      /invalid peer certificate|certificate verify failed/i.test(e.message)
    ) {
      return true;
    }
  }
  return false;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}
