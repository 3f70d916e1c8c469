/**
 * The registry table as `ferry proxy` builds it — built-in registries, the YAML config file,
 * `--registry`, `--alias` and `--default-registry` — shared by the proxy and the image commands,
 * so an image is named and reached the same way in both (auth, TLS, CA).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import * as nodePath from "node:path";
import { splitList } from "../lib/cli/command.ts";
import { parseKeyValue } from "../lib/cli/parse_key_value.ts";
import { UsageError } from "../lib/errors.ts";
import type { RegistryClients } from "../lib/image/registry_client.ts";
import { fetchTrustingCa } from "../lib/runtime.ts";
import { FERRY_VERSION } from "../lib/version.ts";
import {
  checkProxyConfig,
  parseProxyConfig,
  parseRegistryFlag,
} from "../proxy/parse_proxy_config.ts";
import { defaultProxyConfig, type ProxyConfig } from "../proxy/proxy_config.ts";
import { UpstreamClient } from "../proxy/upstream_client.ts";
import type { RegistryTableOptions } from "./_registry_table_flags.ts";
export { REGISTRY_TABLE_FLAGS, type RegistryTableOptions } from "./_registry_table_flags.ts";

/**
 * Builds the registry table from the defaults, `--config`, `--registry`, `--alias` and
 * `--default-registry`; aliases and the default must name registries of the table unless
 * `requireKnown` is false.
 */
export async function loadRegistryTable(
  flags: RegistryTableOptions,
  options: { requireKnown?: boolean } = {},
): Promise<ProxyConfig> {
  const configPath = flags.config;
  let config = defaultProxyConfig();
  if (configPath !== undefined) {
    const text = await readFile(configPath, "utf8").catch((error) => {
      throw new UsageError(`Cannot read config file "${configPath}": ${error.code ?? error}`);
    });
    const base = nodePath.dirname(nodePath.resolve(configPath));
    config = await parseProxyConfig(text, {
      source: `"${configPath}"`,
      readFile: (path) => readFile(nodePath.resolve(base, path), "utf8"),
    });
  }
  // One value per --registry: its commas separate the registry's own options.
  for (const value of flags.registry) {
    const registry = await parseRegistryFlag(value, {
      readFile: (path) => readFile(path, "utf8"),
    });
    config.registries[registry.name] = registry;
  }
  for (const value of splitList(flags.alias)) {
    const [host, name] = parseKeyValue(value, "--alias", "HOST=NAME");
    config.aliases[host.toLowerCase()] = name;
  }
  const defaultRegistry = flags["default-registry"];
  if (defaultRegistry !== undefined) config.defaultRegistry = defaultRegistry;
  // A bundle serves the registries it holds images of, whether or not the table knows them.
  if (options.requireKnown ?? true) checkProxyConfig(config, "the flags and config file");
  return config;
}

/**
 * One authenticated client per registry of the table: the proxy's UpstreamClient (token and
 * Basic auth, the registry's CA, redirects, retries), created on first use.
 */
export function registryClients(
  config: ProxyConfig,
  onLog: (line: string) => void,
): RegistryClients {
  const clients = new Map<string, UpstreamClient>();
  return (name) => {
    let client = clients.get(name);
    if (!client) {
      const registry = config.registries[name];
      if (!registry) throw new UsageError(`Registry "${name}" is not in the registry table`);
      client = new UpstreamClient(registry, {
        fetch: registry.ca ? fetchTrustingCa(registry.ca) : globalThis.fetch.bind(globalThis),
        timeoutMs: config.upstream.timeoutMs,
        retries: config.upstream.retries,
        userAgent: `ferry/${FERRY_VERSION}`,
        onLog,
      });
      clients.set(name, client);
    }
    return client;
  };
}
