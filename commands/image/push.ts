import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { defineCommand, parseIntegerFlag } from "../../lib/cli/command.ts";
import { createProgress } from "../../lib/cli/progress.ts";
import { UsageError } from "../../lib/errors.ts";
import { pushBundle } from "../../lib/image/push_bundle.ts";
import { loadRegistryTable, REGISTRY_TABLE_FLAGS, registryClients } from "../_registry_table.ts";

export const imagePushCommand = defineCommand({
  usage: "DIR REGISTRY[/PREFIX] [--config FILE] [--registry NAME=URL,…]",
  description: `Loads a verified bundle into an existing registry (Harbor, Distribution, zot):
every repository goes to REGISTRY/PREFIX/<repository> (the source registry's name dropped),
blobs already there are skipped, blobs pushed to another repository are mounted, the rest are
uploaded in chunks; manifests go byte for byte, so digests and signatures stay valid.
REGISTRY is a name from the registry table (credentials, CA from --config or --registry) or
a URL (http://host:port).

Examples:
  ferry image push /srv/bundle harbor.local/tidb --registry harbor.local=https://harbor.local,credentials=harbor.auth
  ferry image push /srv/bundle http://127.0.0.1:5000/mirror`,
  flags: {
    "chunk-mb": {
      type: "string",
      valueName: "N",
      default: "8",
      description: "Megabytes per upload chunk",
    },
    ...REGISTRY_TABLE_FLAGS,
  },
  positionals: { min: 2, max: 2, names: "DIR REGISTRY[/PREFIX]" },
  async run({ args, options, out, env }) {
    const [dir, destination] = args as [string, string];
    const config = await loadRegistryTable(options);
    let name: string;
    let prefix: string;
    const url = /^(https?:\/\/[^/]+)(?:\/(.*))?$/.exec(destination);
    if (url) {
      name = new URL(url[1]!).host;
      prefix = url[2] ?? "";
      config.registries[name] ??= { name, url: url[1]! };
    } else {
      const slash = destination.indexOf("/");
      name = slash === -1 ? destination : destination.slice(0, slash);
      prefix = slash === -1 ? "" : destination.slice(slash + 1);
      if (!config.registries[name]) {
        throw new UsageError(
          `Cannot push to "${destination}": registry "${name}" is not in the registry table; ` +
            "add it with --registry NAME=URL or use a URL",
        );
      }
    }
    prefix = prefix.replace(/\/+$/, "");
    const chunkMb = parseIntegerFlag("chunk-mb", options["chunk-mb"], { min: 1, max: 1024 }) ?? 8;
    const progress = createProgress(out, "Pushing");
    const started = performance.now();
    const report = await pushBundle(
      openWritableStorage(dir, { env }),
      registryClients(config, (line) => out.warn(line))(name),
      {
        ...(prefix ? { prefix } : {}),
        chunkBytes: chunkMb * 1024 * 1024,
        onProgress: (event) => progress.update(event),
      },
    ).finally(() => progress.stop());
    out.print(
      `Pushed ${report.repositories} repositories to ${destination}: ${report.uploaded} blobs ` +
        `uploaded (${(report.bytesUploaded / 1e6).toFixed(1)} MB), ${report.mounted} mounted, ` +
        `${report.present} already there; ${report.manifestsPut} manifests put in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return 0;
  },
});
