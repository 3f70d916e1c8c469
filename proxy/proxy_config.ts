/**
 * The shape of a proxy's configuration, and the registries every proxy knows without being told.
 *
 * @module
 */

/** One upstream registry. */
export interface RegistryEntry {
  /** The name clients use in paths: "docker.io", "upstream.test". */
  name: string;
  /** Where its API lives: scheme, host and optional port, no path ("https://registry-1.docker.io"). */
  url: string;
  /** PEM text of extra CA certificates to trust for this registry (private registries, tests). */
  ca?: string;
  /**
   * Credentials for Basic auth or for the token endpoint. Anonymous when absent. They are sent
   * only to `url`'s origin and to the realms in `tokenRealms`.
   */
  username?: string;
  password?: string;
  /**
   * Token realms on another origin that may receive the credentials ("https://auth.docker.io/token"):
   * a realm elsewhere is asked for an anonymous token, so an upstream cannot send them anywhere.
   */
  tokenRealms?: string[];
  /** One-segment names get "library/" (Docker Hub official images). */
  library?: boolean;
}

/** A client-facing user: a name and a bcrypt hash (htpasswd -B). */
export interface ProxyUser {
  name: string;
  bcryptHash: string;
}

/** The whole configuration, after parsing and defaults. */
export interface ProxyConfig {
  registries: Record<string, RegistryEntry>;
  /** Request Host → registry name (host-alias mode). */
  aliases: Record<string, string>;
  /** Registry for paths without one (Docker Hub mirror mode); none when undefined. */
  defaultRegistry?: string;
  /** Glob patterns over "<registry>/<repository>"; when non-empty only matches are served. */
  allow: string[];
  /** Glob patterns over "<registry>/<repository>"; matches are refused. */
  block: string[];
  cache: {
    /** How long a tag's answer is used without asking the upstream again. */
    tagTtlMs: number;
    /** Evict least recently used content past this many bytes; undefined = no limit. */
    maxBytes?: number;
  };
  upstream: {
    /** Time to wait for response headers, and the longest pause inside a body. */
    timeoutMs: number;
    /** Extra attempts for requests that fail on the network, 429 or 5xx (not timeouts). */
    retries: number;
    /** The whole revalidation of a stale tag (token, retries) ends within this; then stale. */
    revalidateTimeoutMs: number;
    /** Failures in a row after which an upstream counts as down. */
    breakerFailures: number;
    /** How long a down upstream is left alone before one probe request. */
    breakerCooldownMs: number;
  };
  auth: {
    users: ProxyUser[];
    /** HMAC secret for client tokens; when set, clients get a Bearer challenge and /auth/token. */
    tokenSecret?: string;
    tokenTtlMs: number;
  };
  /**
   * Bearer token that `/metrics` requires; without one, `/metrics` requires a client login when
   * logins are on, and is open otherwise.
   */
  metricsToken?: string;
  /** Requests per second per client address, with a burst; undefined = unlimited. */
  rateLimit?: { requestsPerSecond: number; burst: number };
}

/** Docker Hub and the other public registries crproxy users pull from (seed 004). */
export const BUILTIN_REGISTRIES: readonly RegistryEntry[] = [
  {
    name: "docker.io",
    url: "https://registry-1.docker.io",
    library: true,
    tokenRealms: ["https://auth.docker.io/token"],
  },
  { name: "gcr.io", url: "https://gcr.io" },
  { name: "ghcr.io", url: "https://ghcr.io" },
  { name: "k8s.gcr.io", url: "https://k8s.gcr.io" },
  { name: "registry.k8s.io", url: "https://registry.k8s.io" },
  { name: "quay.io", url: "https://quay.io" },
  { name: "mcr.microsoft.com", url: "https://mcr.microsoft.com" },
  { name: "nvcr.io", url: "https://nvcr.io" },
  {
    name: "docker.elastic.co",
    url: "https://docker.elastic.co",
    tokenRealms: ["https://docker-auth.elastic.co/auth"],
  },
  { name: "cr.l5d.io", url: "https://cr.l5d.io" },
];

/** A configuration with the built-in registries and default settings, nothing else. */
export function defaultProxyConfig(): ProxyConfig {
  return {
    registries: Object.fromEntries(BUILTIN_REGISTRIES.map((r) => [r.name, { ...r }])),
    aliases: {},
    allow: [],
    block: [],
    cache: { tagTtlMs: 5 * 60_000 },
    upstream: {
      timeoutMs: 30_000,
      retries: 2,
      revalidateTimeoutMs: 3_000,
      breakerFailures: 3,
      breakerCooldownMs: 15_000,
    },
    auth: { users: [], tokenTtlMs: 15 * 60_000 },
  };
}
