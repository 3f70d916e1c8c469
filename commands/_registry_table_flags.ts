import type { FlagSpecs, TypedFlags } from "../lib/cli/command.ts";

/**
 * The flags that shape the registry table, kept apart from the table's loader (YAML, the
 * upstream client) so that a command can show these flags without loading it.
 */
export const REGISTRY_TABLE_FLAGS = {
  config: {
    type: "string",
    short: "c",
    valueName: "FILE",
    description: "YAML config file (the proxy's: registries, aliases, defaultRegistry)",
  },
  registry: {
    type: "string",
    multiple: true,
    valueName: "NAME=URL[,OPT…]",
    description: "Add a registry to the table (repeatable), e.g. my.reg=https://10.0.0.5:5000; " +
      "options: ca=FILE, credentials=FILE (user:password), token-realm=URL, library",
  },
  alias: {
    type: "string",
    multiple: true,
    valueName: "HOST=NAME",
    description: "Serve registry NAME to requests for Host HOST (repeatable)",
  },
  "default-registry": {
    type: "string",
    valueName: "NAME",
    description: "Registry for names without one (Docker Hub mirror mode)",
  },
} as const satisfies FlagSpecs;

/** The registry table's flag values, as every command that declares them receives them. */
export type RegistryTableOptions = TypedFlags<typeof REGISTRY_TABLE_FLAGS>;
