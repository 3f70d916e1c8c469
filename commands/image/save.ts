import { openWritableStorage } from "../../lib/storage/open_storage.ts";
import { readFile } from "node:fs/promises";
import { defineCommand, parseIntegerFlag, splitList } from "../../lib/cli/command.ts";
import { createProgress } from "../../lib/cli/progress.ts";
import { UsageError } from "../../lib/errors.ts";
import { parseImageReference } from "../../lib/image/image_reference.ts";
import { saveImages } from "../../lib/image/save_images.ts";
import type { ProxyConfig } from "../../proxy/proxy_config.ts";
import { loadRegistryTable, REGISTRY_TABLE_FLAGS, registryClients } from "../_registry_table.ts";

export const imageSaveCommand = defineCommand({
  usage: "IMAGE… [-f LIST] -o DIR [--platform OS/ARCH,…] [--config FILE] [--registry NAME=URL]",
  description: `Pulls images into DIR as an OCI image layout (oci-layout, index.json, blobs/sha256)
that is also a TiUP mirror: skopeo, podman and oras read it directly, "ferry mirror serve DIR"
serves it to docker, containerd and podman, and "ferry image verify DIR" checks it offline.

Manifests are stored byte for byte (digests and signatures stay valid); a multi-arch image
brings every platform unless --platform says otherwise; cosign signatures (sha256-….sig/.att/
.sbom tags) and OCI referrers come along. Blobs already in DIR are not fetched again, so a
killed save resumes and a later save adds only what is new. Every blob is verified while it
downloads. An empty DIR gets its own root of trust (keys in DIR/keys: keep them, do not carry
them); in a mirror, the mirror's index keys sign the image inventory.

Images are REGISTRY/REPOSITORY[:TAG][@DIGEST] with a registry of the proxy's table (built-ins,
--config, --registry); a name without a registry goes to --default-registry, else docker.io.

Examples:
  ferry image save docker.io/pingcap/tidb-operator:v1.6.0 -o /srv/bundle
  ferry image save -f images.txt -o /srv/bundle --platform linux/amd64,linux/arm64
  ferry image save my.reg/team/app:1.0 -o /srv/bundle --registry my.reg=https://10.0.0.5:5000,ca=ca.pem`,
  flags: {
    output: { type: "string", short: "o", valueName: "DIR", description: "The bundle directory" },
    file: {
      type: "string",
      short: "f",
      valueName: "LIST",
      multiple: true,
      description: "A file with one image per line (# comments)",
    },
    platform: {
      type: "string",
      valueName: "OS/ARCH,…",
      description: "Only these platforms of multi-arch images (default: all, as skopeo --all)",
    },
    jobs: {
      type: "string",
      short: "j",
      valueName: "N",
      default: "8",
      description: "Parallel blob downloads",
    },
    ...REGISTRY_TABLE_FLAGS,
  },
  positionals: { names: "IMAGE…" },
  async run({ args, options, out, env, signal }) {
    const dir = options.output;
    if (dir === undefined) throw new UsageError("Cannot save images: name the bundle with -o DIR");
    const config = await loadRegistryTable(options);
    const names = [...args];
    for (const list of splitList(options.file)) names.push(...await readImageList(list));
    if (names.length === 0) {
      throw new UsageError("Cannot save images: name some (IMAGE… or -f LIST)");
    }
    const images = names.map((name) => parseImageReference(name, referenceContext(config)));
    const platforms = parsePlatforms(options.platform);
    const jobs = parseIntegerFlag("jobs", options.jobs, { min: 1, max: 64 }) ?? 8;
    const progress = createProgress(out, "Saving");
    const started = performance.now();
    const report = await saveImages(openWritableStorage(dir, { env }), images, {
      clients: registryClients(config, (line) => out.warn(line)),
      jobs,
      ...(platforms ? { platforms } : {}),
      onProgress: (event) => progress.update(event),
      onNote: (line) => out.info(line),
      signal,
    }).finally(() => progress.stop());
    const seconds = (performance.now() - started) / 1000;
    if (report.created) out.info(`Created a new bundle in ${dir} (its keys are in ${dir}/keys)`);
    out.print(
      `Saved ${report.images.length} image(s) (+${report.extras.length} signatures/referrers), ` +
        `${report.manifests} manifests; ${report.blobsDownloaded} blobs downloaded ` +
        `(${(report.bytesDownloaded / 1e6).toFixed(1)} MB), ${report.blobsPresent} already ` +
        `present, in ${seconds.toFixed(1)} s; inventory v${report.inventoryVersion}`,
    );
    return 0;
  },
});

/** What the image name parser needs of the table: its names, the default, the library ones. */
export function referenceContext(config: ProxyConfig) {
  return {
    registries: new Set(Object.keys(config.registries)),
    defaultRegistry: config.defaultRegistry ??
      (config.registries["docker.io"] ? "docker.io" : undefined),
    libraryRegistries: new Set(
      Object.values(config.registries).filter((r) => r.library).map((r) => r.name),
    ),
  };
}

async function readImageList(path: string): Promise<string[]> {
  const text = await readFile(path, "utf8").catch((error) => {
    throw new UsageError(`Cannot read the image list "${path}": ${error.code ?? error.message}`);
  });
  return text.split("\n").map((line) => line.replace(/#.*$/, "").trim()).filter((l) => l !== "");
}

function parsePlatforms(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const platforms = value.split(",").map((p) => p.trim()).filter((p) => p !== "");
  for (const platform of platforms) {
    if (!/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/.test(platform)) {
      throw new UsageError(
        `Cannot use --platform "${platform}": expected OS/ARCH[/VARIANT] such as linux/amd64`,
      );
    }
  }
  if (platforms.length === 0) throw new UsageError("Cannot use an empty --platform");
  return platforms;
}
