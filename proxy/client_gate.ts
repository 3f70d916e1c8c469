import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { ClientAuth, type ClientAuthOptions, type IssuedToken } from "./client_auth.ts";
import { OciError } from "./oci_error.ts";
import type { ProxyConfig } from "./proxy_config.ts";
import type { ProxyMetrics } from "./proxy_metrics.ts";
import { RateLimiter } from "./rate_limiter.ts";

/** What a client request carries that the gate decides on. */
export interface ClientRequest {
  authorization: string | undefined;
  /** The client's address ("-" when unknown). */
  client: string;
}

/**
 * The proxy's front door for clients: the per-client request rate limit comes first (so a
 * flood of bad logins is refused before any password is checked), then the login, whose
 * failures are limited per client and per user (see ClientAuth). `/metrics` is behind the
 * metrics token when one is configured, else behind the client login when logins are on.
 * Every refusal is an {@linkcode OciError} (401 with the challenge, or 429 with Retry-After).
 */
export class ClientGate {
  readonly #auth: ClientAuth;
  readonly #limiter: RateLimiter | undefined;
  readonly #metricsToken: string | undefined;
  readonly #metrics: ProxyMetrics;

  constructor(config: ProxyConfig, metrics: ProxyMetrics, options: ClientAuthOptions = {}) {
    this.#auth = new ClientAuth(config.auth, options);
    const rate = config.rateLimit;
    this.#limiter = rate
      ? new RateLimiter(rate.requestsPerSecond, rate.burst, options.now)
      : undefined;
    this.#metricsToken = config.metricsToken;
    this.#metrics = metrics;
  }

  /** Lets a registry API request through, or throws 429/401 (the challenge names `origin`). */
  async admit(request: ClientRequest, origin: string): Promise<void> {
    this.#rateLimit(request.client);
    if (!this.#auth.enabled) return;
    const result = await this.#auth.check(request.authorization, request.client);
    if (result.ok) return;
    this.#refuse(request, result.retryAfter, () =>
      new OciError(
        401,
        "UNAUTHORIZED",
        "Authentication required: log in to this proxy (docker login / skopeo --creds)",
        undefined,
        { "www-authenticate": this.#auth.challenge(origin) },
      ));
  }

  /** Answers `/auth/token`: a token for valid Basic credentials, else throws 429/401. */
  async issueToken(request: ClientRequest): Promise<IssuedToken> {
    this.#rateLimit(request.client);
    const result = await this.#auth.issue(request.authorization, request.client);
    if ("token" in result) return result;
    this.#refuse(
      request,
      result.retryAfter,
      () =>
        new OciError(401, "UNAUTHORIZED", "Wrong user name or password", undefined, {
          "www-authenticate": 'Basic realm="ferry proxy"',
        }),
    );
  }

  /** Lets a `/metrics` scrape through, or throws 401. */
  async admitMetrics(request: ClientRequest, origin: string): Promise<void> {
    const token = this.#metricsToken;
    if (token !== undefined) {
      const given = Buffer.from(/^bearer\s+(.+)$/i.exec(request.authorization ?? "")?.[1] ?? "");
      const expected = Buffer.from(token);
      if (given.length === expected.length && timingSafeEqual(given, expected)) return;
      throw new OciError(401, "UNAUTHORIZED", "The metrics need the metrics token", undefined, {
        "www-authenticate": 'Bearer realm="ferry proxy metrics"',
      });
    }
    await this.admit(request, origin);
  }

  /**
   * Lets a browser see the proxy's page when logins are on, or throws 429/401. Always a Basic
   * challenge, even when registry clients are sent to `/auth/token`: a browser can answer
   * only that one (Basic credentials are checked by the same rules and failure limits).
   */
  async admitPage(request: ClientRequest): Promise<void> {
    this.#rateLimit(request.client);
    if (!this.#auth.enabled) return;
    const result = await this.#auth.check(request.authorization, request.client);
    if (result.ok) return;
    this.#refuse(
      request,
      result.retryAfter,
      () =>
        new OciError(401, "UNAUTHORIZED", "Log in to this proxy to see its page", undefined, {
          "www-authenticate": 'Basic realm="ferry proxy"',
        }),
    );
  }

  #rateLimit(client: string): void {
    const wait = this.#limiter?.take(client) ?? 0;
    if (wait === 0) return;
    this.#metrics.inc("ferry_proxy_rate_limited_total");
    throw tooMany(`Too many requests from this client; retry in ${wait} s`, wait);
  }

  #refuse(
    request: ClientRequest,
    retryAfter: number | undefined,
    unauthorized: () => OciError,
  ): never {
    // No Authorization at all is the first step of every login, not a failure.
    if (request.authorization !== undefined) {
      this.#metrics.inc("ferry_proxy_login_failures_total", {
        limited: retryAfter === undefined ? "no" : "yes",
      });
    }
    if (retryAfter !== undefined) {
      throw tooMany(`Too many failed logins; retry in ${retryAfter} s`, retryAfter);
    }
    throw unauthorized();
  }
}

function tooMany(message: string, wait: number): OciError {
  return new OciError(429, "TOOMANYREQUESTS", message, undefined, { "retry-after": String(wait) });
}
