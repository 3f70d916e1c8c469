import bcrypt from "bcryptjs";
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { ProxyConfig } from "./proxy_config.ts";
import { RateLimiter } from "./rate_limiter.ts";

/**
 * Who a request authenticated as, or why it did not: `retryAfter` (seconds) when the client or
 * the user name has failed too often and the credentials were not even checked.
 */
export type ClientAuthResult = { ok: true; user: string } | { ok: false; retryAfter?: number };

/** Options for {@linkcode ClientAuth}. */
export interface ClientAuthOptions {
  now?: Clock;
  /** Checks a password against a bcrypt hash (bcryptjs by default). */
  compare?: (password: string, hash: string) => Promise<boolean>;
}

/** A token answer for `/auth/token` (Docker token spec field names). */
export interface IssuedToken {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

const AUDIENCE = "ferry-proxy";
const CACHE_MS = 5 * 60_000;
/** Failed logins one client address may make: a burst, then this many per minute. */
const CLIENT_FAILURES = { burst: 10, perMinute: 10 };
/** Failed logins for one user name, from anywhere (a distributed guess at one account). */
const USER_FAILURES = { burst: 30, perMinute: 30 };

/**
 * Client authentication for the proxy. Users come from an htpasswd file (bcrypt only). Without a
 * token secret, clients send Basic credentials on every request (`WWW-Authenticate: Basic`).
 * With one, clients are sent to `/auth/token` (`WWW-Authenticate: Bearer`), which trades Basic
 * credentials for an HMAC-SHA256-signed token (HS256 JWT) that expires; unlike crproxy master's
 * unkeyed tokens, they cannot be forged without the secret. Verified passwords are remembered for
 * five minutes (by a keyed hash of user and password, never the password) so bcrypt's deliberate
 * slowness is paid once, not per layer.
 *
 * Against guessing: failed logins are limited per client address and per user name (past the
 * limit the answer is "retry later" without running bcrypt, so guessers cannot use up the CPU
 * valid clients need), and an unknown user name costs a bcrypt comparison against a dummy hash
 * of the same cost as a known one, so timing does not tell which names exist.
 */
export class ClientAuth {
  readonly #users: Map<string, string>;
  readonly #secret: string | undefined;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #verified = new Map<string, number>();
  readonly #cacheKey = randomBytes(32);
  readonly #compare: (password: string, hash: string) => Promise<boolean>;
  readonly #dummyHash: string;
  readonly #clientFailures: RateLimiter;
  readonly #userFailures: RateLimiter;

  constructor(auth: ProxyConfig["auth"], options: ClientAuthOptions = {}) {
    this.#users = new Map(auth.users.map((u) => [u.name, u.bcryptHash]));
    this.#secret = auth.tokenSecret;
    this.#ttlMs = auth.tokenTtlMs;
    this.#clock = options.now ?? systemClock;
    this.#compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    // bcrypt's time depends only on the cost in the hash: the highest cost in use is never
    // faster than a real user's check. Any 53 characters of bcrypt's alphabet are a valid hash.
    const cost = Math.max(4, ...auth.users.map((u) => Number(u.bcryptHash.slice(4, 6)) || 0));
    this.#dummyHash = `$2b$${String(cost).padStart(2, "0")}$${
      "ferryproxydummysaltxx".padEnd(53, ".")
    }`;
    const limiter = (rule: { burst: number; perMinute: number }) =>
      new RateLimiter(rule.perMinute / 60, rule.burst, this.#clock);
    this.#clientFailures = limiter(CLIENT_FAILURES);
    this.#userFailures = limiter(USER_FAILURES);
  }

  /** True when clients must authenticate. */
  get enabled(): boolean {
    return this.#users.size > 0;
  }

  /** True when clients get tokens from `/auth/token`. */
  get issuesTokens(): boolean {
    return this.#secret !== undefined;
  }

  /** The `WWW-Authenticate` value for an unauthenticated request to `origin`. */
  challenge(origin: string, scope?: string): string {
    if (this.#secret === undefined) return 'Basic realm="ferry proxy"';
    return `Bearer realm="${origin}/auth/token",service="${AUDIENCE}"` +
      (scope ? `,scope="${scope}"` : "");
  }

  /**
   * Checks an `Authorization` header from `client` (its address): Basic always, Bearer when
   * tokens are issued.
   */
  async check(authorization: string | undefined, client = "-"): Promise<ClientAuthResult> {
    if (!authorization) return { ok: false };
    const [scheme = "", value = ""] = authorization.split(/\s+/, 2);
    if (scheme.toLowerCase() === "basic") return await this.#checkBasic(value, client);
    if (scheme.toLowerCase() === "bearer" && this.#secret !== undefined) {
      return this.#checkToken(value, this.#secret);
    }
    return { ok: false };
  }

  /**
   * Issues a token to a client that sent valid Basic credentials; otherwise the failed result
   * (with `retryAfter` when the client is over its failure limit).
   */
  async issue(
    authorization: string | undefined,
    client = "-",
  ): Promise<IssuedToken | Extract<ClientAuthResult, { ok: false }>> {
    if (this.#secret === undefined || !/^basic\s/i.test(authorization ?? "")) return { ok: false };
    const result = await this.check(authorization, client);
    if (!result.ok) return result;
    const now = this.#clock().getTime();
    const seconds = Math.max(1, Math.floor(this.#ttlMs / 1000));
    const token = sign(
      {
        sub: result.user,
        aud: AUDIENCE,
        iat: Math.floor(now / 1000),
        exp: Math.floor(now / 1000) + seconds,
      },
      this.#secret,
    );
    return {
      token,
      access_token: token,
      expires_in: seconds,
      issued_at: new Date(now).toISOString(),
    };
  }

  async #checkBasic(value: string, client: string): Promise<ClientAuthResult> {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) return { ok: false };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = this.#users.get(user);
    const key = createHmac("sha256", this.#cacheKey).update(`${user}\0${password}\0${hash}`)
      .digest("base64");
    const until = this.#verified.get(key);
    // A remembered success proves the password as well as bcrypt would: no limit applies.
    if (hash !== undefined && until !== undefined && until > this.#clock().getTime()) {
      return { ok: true, user };
    }
    // Taken before bcrypt runs, so that concurrent guesses cannot all slip past the limit, and
    // given back when the password was right.
    const wait = Math.max(this.#clientFailures.peek(client), this.#userFailures.peek(user));
    if (wait > 0) return { ok: false, retryAfter: wait };
    this.#clientFailures.take(client);
    this.#userFailures.take(user);
    const matches = await this.#compare(password, hash ?? this.#dummyHash);
    if (!matches || hash === undefined) return { ok: false };
    this.#clientFailures.refund(client);
    this.#userFailures.refund(user);
    if (this.#verified.size > 10_000) this.#verified.clear();
    this.#verified.set(key, this.#clock().getTime() + CACHE_MS);
    return { ok: true, user };
  }

  #checkToken(token: string, secret: string): ClientAuthResult {
    const parts = token.split(".");
    if (parts.length !== 3) return { ok: false };
    const [header = "", payload = "", signature = ""] = parts;
    const expected = createHmac("sha256", secret).update(`${header}.${payload}`).digest();
    const given = Buffer.from(signature, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false };
    try {
      const head = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
      if (head.alg !== "HS256" || claims.aud !== AUDIENCE) return { ok: false };
      if (typeof claims.exp !== "number" || claims.exp * 1000 <= this.#clock().getTime()) {
        return { ok: false };
      }
      if (typeof claims.sub !== "string" || !this.#users.has(claims.sub)) return { ok: false };
      return { ok: true, user: claims.sub };
    } catch {
      return { ok: false };
    }
  }
}

function sign(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}
