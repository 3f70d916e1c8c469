// Builds the rig's test images as an OCI image layout, byte for byte the same on every run
// (fixed tar headers, gzip without a timestamp, a keyed AES-CTR stream as "random" data), so
// that digests are stable across machines.
//
//   node build_layout.mjs <layout-dir> <big-layer-MiB>
//
// Tags in index.json: v1 (linux/amd64), multi (an OCI index of amd64 and arm64/v8), big (one
// incompressible layer of <big-layer-MiB> MiB).
import { createCipheriv, createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const [dir, bigMiB = "50"] = process.argv.slice(2);
if (!dir) throw new Error("usage: build_layout.mjs <layout-dir> <big-layer-MiB>");
const OCI = "application/vnd.oci.image";

rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Stores bytes as a blob; returns its descriptor. */
function blob(mediaType, bytes, extra = {}) {
  const hex = sha256(bytes);
  writeFileSync(join(dir, "blobs", "sha256", hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length, ...extra };
}

/** A ustar archive of regular files (name -> bytes), mode 0644, owner 0, mtime 0. */
function tar(files) {
  const parts = [];
  for (const [name, data] of files) {
    const header = Buffer.alloc(512);
    const field = (offset, length, text) => header.write(text, offset, length, "latin1");
    const octal = (value, length) => value.toString(8).padStart(length - 1, "0") + "\0";
    field(0, 100, name);
    field(100, 8, octal(0o644, 8));
    field(108, 8, octal(0, 8));
    field(116, 8, octal(0, 8));
    field(124, 12, octal(data.length, 12));
    field(136, 12, octal(0, 12));
    field(148, 8, "        "); // checksum counts as spaces while it is computed
    field(156, 1, "0");
    field(257, 8, "ustar\u000000");
    const sum = header.reduce((total, byte) => total + byte, 0);
    field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    parts.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** One single-layer image; returns the manifest's descriptor. */
function image(files, platform, level) {
  const layerTar = tar(files);
  const layer = blob(`${OCI}.layer.v1.tar+gzip`, gzipSync(layerTar, { level }));
  const config = blob(
    `${OCI}.config.v1+json`,
    Buffer.from(JSON.stringify({
      architecture: platform.architecture,
      os: "linux",
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: "1970-01-01T00:00:00Z",
      config: { Cmd: ["/hello"], Env: ["PATH=/"] },
      rootfs: { type: "layers", diff_ids: [`sha256:${sha256(layerTar)}`] },
    })),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: `${OCI}.manifest.v1+json`,
    config,
    layers: [layer],
  };
  return blob(manifest.mediaType, Buffer.from(JSON.stringify(manifest)));
}

const hello = (arch) => [["hello", Buffer.from(`hello from the ferry registry rig (${arch})\n`)]];
const amd64 = image(hello("linux/amd64"), { architecture: "amd64" }, 6);
const arm64 = image(hello("linux/arm64/v8"), { architecture: "arm64", variant: "v8" }, 6);
const indexBody = {
  schemaVersion: 2,
  mediaType: `${OCI}.index.v1+json`,
  manifests: [
    { ...amd64, platform: { architecture: "amd64", os: "linux" } },
    { ...arm64, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
  ],
};
const multi = blob(indexBody.mediaType, Buffer.from(JSON.stringify(indexBody)));

const bigBytes = Number(bigMiB) * 1024 * 1024;
const key = createHash("sha256").update("ferry registry rig big layer").digest();
const noise = createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(bigBytes));
const big = image([["random.bin", noise]], { architecture: "amd64" }, 1);

const ref = (descriptor, name) => ({
  ...descriptor,
  annotations: { "org.opencontainers.image.ref.name": name },
});
writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
writeFileSync(
  join(dir, "index.json"),
  JSON.stringify({
    schemaVersion: 2,
    manifests: [ref(amd64, "v1"), ref(multi, "multi"), ref(big, "big")],
  }),
);
