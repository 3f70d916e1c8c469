import bcrypt from "bcryptjs";
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { ProxyConfig } from "./proxy_config.ts";

/** Who a request authenticated as, or why it did not. */
export type ClientAuthResult = { ok: true; user: string } | { ok: false };

/** A token answer for `/auth/token` (Docker token spec field names). */
export interface IssuedToken {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

const AUDIENCE = "ferry-proxy";
const CACHE_MS = 5 * 60_000;

/**
 * Client authentication for the proxy. Users come from an htpasswd file (bcrypt only). Without a
 * token secret, clients send Basic credentials on every request (`WWW-Authenticate: Basic`).
 * With one, clients are sent to `/auth/token` (`WWW-Authenticate: Bearer`), which trades Basic
 * credentials for an HMAC-SHA256-signed token (HS256 JWT) that expires; unlike crproxy master's
 * unkeyed tokens, they cannot be forged without the secret. Verified passwords are remembered for
 * five minutes (by hash) so bcrypt's deliberate slowness is paid once, not per layer.
 */
export class ClientAuth {
  readonly #users: Map<string, string>;
  readonly #secret: string | undefined;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #verified = new Map<string, number>();

  constructor(auth: ProxyConfig["auth"], now: () => number = Date.now) {
    this.#users = new Map(auth.users.map((u) => [u.name, u.bcryptHash]));
    this.#secret = auth.tokenSecret;
    this.#ttlMs = auth.tokenTtlMs;
    this.#now = now;
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

  /** Checks an `Authorization` header: Basic always, Bearer when tokens are issued. */
  async check(authorization: string | undefined): Promise<ClientAuthResult> {
    if (!authorization) return { ok: false };
    const [scheme = "", value = ""] = authorization.split(/\s+/, 2);
    if (scheme.toLowerCase() === "basic") return await this.#checkBasic(value);
    if (scheme.toLowerCase() === "bearer" && this.#secret !== undefined) {
      return this.#checkToken(value, this.#secret);
    }
    return { ok: false };
  }

  /** Issues a token to a client that sent valid Basic credentials; undefined otherwise. */
  async issue(authorization: string | undefined): Promise<IssuedToken | undefined> {
    if (this.#secret === undefined) return undefined;
    const result = await this.check(authorization);
    if (!result.ok || !/^basic\s/i.test(authorization ?? "")) return undefined;
    const now = this.#now();
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

  async #checkBasic(value: string): Promise<ClientAuthResult> {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) return { ok: false };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = this.#users.get(user);
    if (hash === undefined) return { ok: false };
    const key = createHash("sha256").update(`${hash}\0${user}\0${password}`).digest("hex");
    const until = this.#verified.get(key);
    if (until !== undefined && until > this.#now()) return { ok: true, user };
    if (!(await bcrypt.compare(password, hash))) return { ok: false };
    if (this.#verified.size > 10_000) this.#verified.clear();
    this.#verified.set(key, this.#now() + CACHE_MS);
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
      if (typeof claims.exp !== "number" || claims.exp * 1000 <= this.#now()) return { ok: false };
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
