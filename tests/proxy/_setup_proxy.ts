/**
 * A proxy app over a FakeRegistry, a MemoryStorage and a settable clock, for proxy unit tests.
 *
 * @module
 */
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { createRegistryProxy } from "../../proxy/create_registry_proxy.ts";
import { defaultProxyConfig, type ProxyConfig } from "../../proxy/proxy_config.ts";
import { FakeRegistry } from "./_fake_registry.ts";

export function setup(
  options: {
    registry?: FakeRegistry;
    configure?: (config: ProxyConfig) => void;
    storage?: Storage;
  } = {},
) {
  const registry = options.registry ?? new FakeRegistry();
  const config = defaultProxyConfig();
  config.registries["fake.test"] = { name: "fake.test", url: registry.origin };
  config.upstream.retries = 0;
  config.upstream.timeoutMs = 2000;
  options.configure?.(config);
  const clock = { now: 1_700_000_000_000 };
  const storage = options.storage ?? new MemoryStorage();
  const logs: string[] = [];
  const app = createRegistryProxy(config, {
    fetch: registry.fetch,
    resolveHost: () => Promise.resolve(["93.184.216.34"]), // the fake hosts count as public
    storage,
    now: () => new Date(clock.now),
    onLog: (line) => logs.push(line),
  });
  const get = async (path: string, headers: Record<string, string> = {}, method = "GET") => {
    const response = await app.request(`http://proxy.local${path}`, { method, headers });
    await app.idle(); // cache writes happen after the answer; let them land before the next step
    return response;
  };
  return { registry, config, clock, storage, app, get, logs };
}

export async function errorCode(response: Response): Promise<string> {
  const body = await response.json();
  return body.errors[0].code;
}
