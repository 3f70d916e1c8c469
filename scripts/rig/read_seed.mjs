// Reads back what the rig's upstream serves for each seeded tag and writes seed.json:
// { upstream, images: [{ repo, tag, digest, mediaType, size }], bigLayer: { repo, digest, size } }.
//
//   node read_seed.mjs <upstream-url> <layout-dir> <out.json> repo:tag...
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [upstream, layout, out, ...refs] = process.argv.slice(2);
const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

const images = [];
for (const ref of refs) {
  const at = ref.lastIndexOf(":");
  const [repo, tag] = [ref.slice(0, at), ref.slice(at + 1)];
  const response = await fetch(`${upstream}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { accept: ACCEPT },
    signal: AbortSignal.timeout(10_000),
  });
  const digest = response.headers.get("docker-content-digest");
  if (!response.ok || !digest) throw new Error(`Cannot read back ${ref}: ${response.status}`);
  images.push({
    repo,
    tag,
    digest,
    mediaType: response.headers.get("content-type"),
    size: Number(response.headers.get("content-length")),
  });
}
const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
const big = index.manifests.find((m) =>
  m.annotations["org.opencontainers.image.ref.name"] === "big"
);
const manifest = JSON.parse(
  readFileSync(join(layout, "blobs", "sha256", big.digest.slice("sha256:".length)), "utf8"),
);
const layer = manifest.layers[0];
writeFileSync(
  out,
  JSON.stringify(
    { upstream, images, bigLayer: { repo: "test/big", digest: layer.digest, size: layer.size } },
    null,
    2,
  ),
);
