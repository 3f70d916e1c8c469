import { parse as parseYaml } from "yaml";
import { UsageError } from "../lib/errors.ts";
import { parseKeyValueList } from "../lib/cli/parse_key_value.ts";
import { defaultProxyConfig, type ProxyConfig, type RegistryEntry } from "./proxy_config.ts";

/** Reads files the config names (CA bundles, htpasswd, secrets); injected for tests. */
export type ReadConfigFile = (path: string) => Promise<string>;

/**
 * Parses a proxy config file (YAML) into a {@linkcode ProxyConfig} on top of the defaults.
 * Unknown keys, bad durations, sizes and URLs are refused with a UsageError naming the key, so a
 * typo never silently turns a setting off.
 *
 * ```yaml
 * defaultRegistry: docker.io
 * registries:
 *   upstream.test: { url: "http://127.0.0.1:15000", ca: ca.pem, username: u, password: p }
 * aliases: { k8s-gcr.cr.example: k8s.gcr.io }
 * allow: ["docker.io/library/*"]
 * block: ["*\/private/*"]
 * cache: { tagTtl: 5m, maxSize: 50GiB }
 * upstream: { timeout: 30s, retries: 2, revalidateTimeout: 3s, downAfter: 3, downFor: 15s }
 * auth: { htpasswd: users.htpasswd, tokenSecretFile: secret.txt, tokenTtl: 15m }
 * rateLimit: { requestsPerSecond: 50, burst: 100 }
 * metrics: { tokenFile: metrics-token.txt }
 * ```
 */
export async function parseProxyConfig(
  text: string,
  options: { readFile: ReadConfigFile; source?: string },
): Promise<ProxyConfig> {
  const where = options.source ?? "the config file";
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new UsageError(`Cannot parse ${where}: ${(error as Error).message.split("\n")[0]}`);
  }
  const config = defaultProxyConfig();
  if (doc === null || doc === undefined) return config;
  const root = object(doc, "the top level", where);
  allowKeys(
    root,
    [
      "registries",
      "aliases",
      "defaultRegistry",
      "builtinRegistries",
      "allow",
      "block",
      "cache",
      "upstream",
      "auth",
      "rateLimit",
      "metrics",
    ],
    "the top level",
    where,
  );

  if (root.builtinRegistries === false) config.registries = {};
  for (const [name, raw] of Object.entries(object(root.registries ?? {}, "registries", where))) {
    const key = `registries.${name}`;
    if (!/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(name)) {
      throw new UsageError(
        `Cannot use ${key} in ${where}: a registry name is a lower-case host name without a port`,
      );
    }
    const entry = typeof raw === "string" ? { url: raw } : object(raw, key, where);
    allowKeys(
      entry,
      ["url", "ca", "username", "password", "library", "tokenRealms"],
      key,
      where,
    );
    const registry: RegistryEntry = { name, url: checkUrl(entry.url, `${key}.url`, where) };
    if (entry.ca !== undefined) {
      const caPath = string(entry.ca, `${key}.ca`, where);
      registry.ca = await readNamed(options.readFile, caPath, `${key}.ca`, where);
    }
    if (entry.username !== undefined) {
      registry.username = string(entry.username, `${key}.username`, where);
    }
    if (entry.password !== undefined) {
      registry.password = string(entry.password, `${key}.password`, where);
    }
    if ((registry.username === undefined) !== (registry.password === undefined)) {
      throw new UsageError(`Cannot use ${key} in ${where}: give both username and password`);
    }
    if (entry.library !== undefined) registry.library = boolean(entry.library, `${key}.library`);
    if (entry.tokenRealms !== undefined) {
      registry.tokenRealms = stringList(entry.tokenRealms, `${key}.tokenRealms`, where).map(
        (realm, i) => httpUrl(realm, `${key}.tokenRealms[${i}]`, where).href,
      );
    }
    config.registries[name] = registry;
  }
  for (const [host, target] of Object.entries(object(root.aliases ?? {}, "aliases", where))) {
    config.aliases[host.toLowerCase()] = string(target, `aliases.${host}`, where);
  }
  if (root.defaultRegistry !== undefined && root.defaultRegistry !== null) {
    config.defaultRegistry = string(root.defaultRegistry, "defaultRegistry", where);
  }
  config.allow = stringList(root.allow, "allow", where);
  config.block = stringList(root.block, "block", where);

  if (root.cache !== undefined) {
    const cache = object(root.cache, "cache", where);
    allowKeys(cache, ["tagTtl", "maxSize"], "cache", where);
    if (cache.tagTtl !== undefined) {
      config.cache.tagTtlMs = parseDuration(cache.tagTtl, "cache.tagTtl", where);
    }
    if (cache.maxSize !== undefined) {
      config.cache.maxBytes = parseSize(cache.maxSize, "cache.maxSize", where);
    }
  }
  if (root.upstream !== undefined) {
    const upstream = object(root.upstream, "upstream", where);
    allowKeys(
      upstream,
      ["timeout", "retries", "revalidateTimeout", "downAfter", "downFor"],
      "upstream",
      where,
    );
    const durations = [
      ["timeout", "timeoutMs"],
      ["revalidateTimeout", "revalidateTimeoutMs"],
      ["downFor", "breakerCooldownMs"],
    ] as const;
    for (const [key, field] of durations) {
      if (upstream[key] === undefined) continue;
      config.upstream[field] = parseDuration(upstream[key], `upstream.${key}`, where);
    }
    if (upstream.retries !== undefined) {
      config.upstream.retries = integer(upstream.retries, "upstream.retries", where, 0, 10);
    }
    if (upstream.downAfter !== undefined) {
      config.upstream.breakerFailures = integer(
        upstream.downAfter,
        "upstream.downAfter",
        where,
        1,
        1000,
      );
    }
  }
  if (root.auth !== undefined) {
    const auth = object(root.auth, "auth", where);
    allowKeys(
      auth,
      ["htpasswd", "users", "tokenSecret", "tokenSecretFile", "tokenTtl"],
      "auth",
      where,
    );
    let htpasswd = "";
    if (auth.htpasswd !== undefined) {
      const path = string(auth.htpasswd, "auth.htpasswd", where);
      htpasswd += await readNamed(options.readFile, path, "auth.htpasswd", where);
    }
    for (const [name, hash] of Object.entries(object(auth.users ?? {}, "auth.users", where))) {
      htpasswd += `\n${name}:${string(hash, `auth.users.${name}`, where)}`;
    }
    config.auth.users = parseHtpasswd(htpasswd, where);
    let secret: string | undefined;
    if (auth.tokenSecret !== undefined) {
      secret = string(auth.tokenSecret, "auth.tokenSecret", where);
    }
    if (auth.tokenSecretFile !== undefined) {
      const path = string(auth.tokenSecretFile, "auth.tokenSecretFile", where);
      secret = (await readNamed(options.readFile, path, "auth.tokenSecretFile", where)).trim();
    }
    if (secret !== undefined) {
      if (secret.length < 32) {
        throw new UsageError(
          `Cannot use the token secret in ${where}: it must be at least 32 characters ` +
            "(try: openssl rand -hex 32)",
        );
      }
      if (config.auth.users.length === 0) {
        throw new UsageError(
          `Cannot use auth.tokenSecret in ${where}: tokens are issued to users; add auth.htpasswd`,
        );
      }
      config.auth.tokenSecret = secret;
    }
    if (auth.tokenTtl !== undefined) {
      config.auth.tokenTtlMs = parseDuration(auth.tokenTtl, "auth.tokenTtl", where);
    }
  }
  if (root.metrics !== undefined) {
    const metrics = object(root.metrics, "metrics", where);
    allowKeys(metrics, ["token", "tokenFile"], "metrics", where);
    let token: string | undefined;
    if (metrics.token !== undefined) token = string(metrics.token, "metrics.token", where);
    if (metrics.tokenFile !== undefined) {
      const path = string(metrics.tokenFile, "metrics.tokenFile", where);
      token = (await readNamed(options.readFile, path, "metrics.tokenFile", where)).trim();
    }
    if (token !== undefined && token.length < 16) {
      throw new UsageError(
        `Cannot use the metrics token in ${where}: it must be at least 16 characters ` +
          "(try: openssl rand -hex 16)",
      );
    }
    if (token !== undefined) config.metricsToken = token;
  }
  if (root.rateLimit !== undefined) {
    const limit = object(root.rateLimit, "rateLimit", where);
    allowKeys(limit, ["requestsPerSecond", "burst"], "rateLimit", where);
    const rps = number(limit.requestsPerSecond, "rateLimit.requestsPerSecond", where);
    const burst = limit.burst === undefined
      ? Math.max(1, Math.ceil(rps * 2))
      : integer(limit.burst, "rateLimit.burst", where, 1, 1_000_000);
    config.rateLimit = { requestsPerSecond: rps, burst };
  }
  checkProxyConfig(config, where);
  return config;
}

/**
 * Parses one `--registry` value: `NAME=URL` and, after commas, `ca=FILE` (PEM CA bundle),
 * `credentials=FILE` (one line `user:password`; a file, so that the password is not in the
 * process list), `token-realm=URL` (repeatable; see `tokenRealms`) and `library`.
 *
 * ```ts
 * await parseRegistryFlag("my.reg=https://10.0.0.5:5000,ca=ca.pem,credentials=my.reg.auth", { readFile });
 * ```
 */
export async function parseRegistryFlag(
  value: string,
  options: { readFile: ReadConfigFile },
): Promise<RegistryEntry> {
  const where = `--registry "${value}"`;
  const [first, ...extras] = parseKeyValueList(value);
  if (!first || first.key === "" || !first.value) {
    throw new UsageError(
      `Cannot use ${where}: expected NAME=URL[,ca=FILE][,credentials=FILE][,token-realm=URL]` +
        "[,library]",
    );
  }
  const entry: Record<string, unknown> = { url: first.value };
  const realms: string[] = [];
  for (const { key, value: option } of extras) {
    if (key === "library" && option === undefined) entry.library = true;
    else if (key === "ca" && option) entry.ca = option;
    else if (key === "token-realm" && option) realms.push(option);
    else if (key === "credentials" && option) {
      const text = (await readNamed(options.readFile, option, "credentials", where)).trim();
      const colon = text.indexOf(":");
      if (colon <= 0 || text.includes("\n")) {
        throw new UsageError(
          `Cannot use the credentials file "${option}" of ${where}: expected one line user:password`,
        );
      }
      entry.username = text.slice(0, colon);
      entry.password = text.slice(colon + 1);
    } else {
      throw new UsageError(
        `Cannot use "${option === undefined ? key : `${key}=${option}`}" in ${where}: known ` +
          "options are ca=FILE, credentials=FILE, " +
          "token-realm=URL and library",
      );
    }
  }
  if (realms.length > 0) entry.tokenRealms = realms;
  const config = await parseProxyConfig(
    JSON.stringify({ builtinRegistries: false, registries: { [first.key]: entry } }),
    { source: where, readFile: options.readFile },
  );
  return Object.values(config.registries)[0]!;
}

/**
 * Checks cross-references after flags and file are merged: aliases and the default registry must
 * name registries in the table.
 */
export function checkProxyConfig(config: ProxyConfig, where = "the configuration"): void {
  for (const [host, registry] of Object.entries(config.aliases)) {
    if (!config.registries[registry]) {
      throw new UsageError(
        `Cannot use alias "${host}" in ${where}: registry "${registry}" is not in the registry table`,
      );
    }
  }
  if (config.defaultRegistry !== undefined && !config.registries[config.defaultRegistry]) {
    throw new UsageError(
      `Cannot use defaultRegistry "${config.defaultRegistry}" in ${where}: it is not in the registry table`,
    );
  }
}

/** Parses "90s", "5m", "1h30m", "250ms" or a number of seconds into milliseconds. */
export function parseDuration(value: unknown, key: string, where: string): number {
  if (typeof value === "number" && value >= 0) return value * 1000;
  const text = typeof value === "string" ? value.trim() : "";
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (text === "" || parts.map((p) => p[0]).join("") !== text) {
    throw new UsageError(
      `Cannot use ${key} "${String(value)}" in ${where}: expected a duration such as 30s, 5m or 1h`,
    );
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] ?? "s"] ?? 0), 0);
}

/** Parses "50GiB", "500MB", "1.5G" or a number of bytes. */
export function parseSize(value: unknown, key: string, where: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value > 0) return value;
  const match = typeof value === "string"
    ? /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(value)
    : null;
  if (!match) {
    throw new UsageError(
      `Cannot use ${key} "${String(value)}" in ${where}: expected a size such as 500MiB or 50GB`,
    );
  }
  const power = " kmgt".indexOf((match[2] || " ").toLowerCase());
  const base = match[3] || !match[2] ? 1024 : 1000;
  return Math.floor(Number(match[1]) * base ** power);
}

function parseHtpasswd(text: string, where: string) {
  const users = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const colon = trimmed.indexOf(":");
    const name = trimmed.slice(0, colon);
    const hash = trimmed.slice(colon + 1);
    if (colon <= 0 || !/^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new UsageError(
        `Cannot use user "${name || trimmed.slice(0, 20)}" in ${where}: only bcrypt entries ` +
          "are accepted (htpasswd -B)",
      );
    }
    users.push({ name, bcryptHash: hash });
  }
  return users;
}

async function readNamed(read: ReadConfigFile, path: string, key: string, where: string) {
  try {
    return await read(path);
  } catch (error) {
    const reason = (error as { code?: string }).code ?? (error as Error).message;
    throw new UsageError(`Cannot read ${key} "${path}" named in ${where}: ${reason}`);
  }
}

function object(value: unknown, key: string, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`Cannot use ${key} in ${where}: expected a mapping`);
  }
  return value as Record<string, unknown>;
}

function allowKeys(value: Record<string, unknown>, keys: string[], key: string, where: string) {
  for (const name of Object.keys(value)) {
    if (!keys.includes(name)) {
      throw new UsageError(
        `Cannot use "${name}" in ${key} of ${where}: unknown key (known: ${keys.join(", ")})`,
      );
    }
  }
}

function string(value: unknown, key: string, where: string): string {
  if (typeof value !== "string" || value === "") {
    throw new UsageError(`Cannot use ${key} in ${where}: expected a non-empty string`);
  }
  return value;
}

function stringList(value: unknown, key: string, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new UsageError(`Cannot use ${key} in ${where}: expected a list`);
  return value.map((v, i) => string(v, `${key}[${i}]`, where));
}

function boolean(value: unknown, key: string): boolean {
  if (typeof value !== "boolean") throw new UsageError(`Cannot use ${key}: expected true or false`);
  return value;
}

function number(value: unknown, key: string, where: string): number {
  if (typeof value !== "number" || !(value > 0)) {
    throw new UsageError(`Cannot use ${key} in ${where}: expected a positive number`);
  }
  return value;
}

function integer(value: unknown, key: string, where: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`Cannot use ${key} in ${where}: expected a whole number ${min}..${max}`);
  }
  return value;
}

function httpUrl(text: string, key: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`Cannot use ${key} "${text}" in ${where}: not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`Cannot use ${key} "${text}" in ${where}: expected http:// or https://`);
  }
  return url;
}

function checkUrl(value: unknown, key: string, where: string): string {
  const text = string(value, key, where);
  const url = httpUrl(text, key, where);
  if (url.pathname !== "/" || url.search !== "" || url.username !== "") {
    throw new UsageError(
      `Cannot use ${key} "${text}" in ${where}: give scheme, host and port only (no path, ` +
        "query or credentials; put credentials in username/password)",
    );
  }
  return url.origin;
}
