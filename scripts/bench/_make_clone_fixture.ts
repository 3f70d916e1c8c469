/**
 * Generates the mirror `scripts/bench/clone.sh` clones: a signed ferry mirror with a few large
 * tarballs and many small ones (random, incompressible bytes), written in one writer
 * transaction so generating 1000 versions stays fast.
 *
 *   deno run -A scripts/bench/_make_clone_fixture.ts DIR [LARGE_MB] [LARGE_COUNT] [SMALL_COUNT] [SMALL_KB]
 *
 * @module
 */
import { createHash, randomFillSync } from "node:crypto";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { generateSigningKey } from "../../lib/format/generate_key.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import type { ComponentManifest, IndexManifest } from "../../lib/format/manifest_types.ts";
import { formatRfc3339 } from "../../lib/format/rfc3339.ts";
import { updateRepository } from "../../lib/writer/update_repository.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";

const [dir, largeMb = "400", largeCount = "4", smallCount = "996", smallKb = "400"] = process.argv
  .slice(2);
if (!dir) {
  throw new Error("usage: _make_clone_fixture.ts DIR [LARGE_MB LARGE_COUNT SMALL_COUNT SMALL_KB]");
}
const now = new Date();
const storage = new LocalStorage(dir);
await initRepository(storage, { now });
const { key } = await generateSigningKey();
await grantOwner(storage, { id: "bench", key: key.publicInfo }, { now, commitLog: false });

interface File {
  component: string;
  version: string;
  size: number;
}
const files: File[] = [];
for (let i = 0; i < Number(largeCount); i++) {
  files.push({ component: "large", version: `v1.${i}.0`, size: Number(largeMb) * 1024 * 1024 });
}
for (let i = 0; i < Number(smallCount); i++) {
  files.push({
    component: `small${i % 20}`,
    version: `v1.${Math.floor(i / 20)}.0`,
    size: Number(smallKb) * 1024 + (i % 7) * 1000,
  });
}

const components = new Map<string, ComponentManifest>();
const chunk = new Uint8Array(4 * 1024 * 1024);
for (const file of files) {
  const name = `${file.component}-${file.version}-linux-amd64.tar.gz`;
  const sha256 = createHash("sha256");
  const sha512 = createHash("sha512");
  const handle = await fs.open(nodePath.join(dir, name), "w");
  for (let written = 0; written < file.size; written += chunk.length) {
    const piece = chunk.subarray(0, Math.min(chunk.length, file.size - written));
    randomFillSync(piece);
    sha256.update(piece);
    sha512.update(piece);
    await handle.write(piece);
  }
  await handle.close();
  const manifest = components.get(file.component) ?? {
    _type: "component",
    description: `bench ${file.component}`,
    expires: formatRfc3339(new Date(now.getTime() + 365 * 86400_000)),
    id: file.component,
    nightly: "",
    platforms: { "linux/amd64": {} },
    spec_version: "0.1.0",
    version: 1,
  } satisfies ComponentManifest;
  manifest.platforms["linux/amd64"]![file.version] = {
    dependencies: null,
    entry: file.component,
    hashes: { sha256: sha256.digest("hex"), sha512: sha512.digest("hex") },
    length: file.size,
    released: formatRfc3339(now),
    url: `/${name}`,
    yanked: false,
  };
  components.set(file.component, manifest);
}

await updateRepository(storage, (state) => {
  const index: IndexManifest = structuredClone(state.index.manifest.signed);
  for (const id of components.keys()) {
    index.components[id] = {
      hidden: false,
      owner: "bench",
      standalone: false,
      url: `/${id}.json`,
      yanked: false,
    };
  }
  index.version += 1;
  return {
    index,
    components: [...components.values()].map((manifest) => ({ manifest, keys: [key] })),
    // The tarballs are already in place; the writer re-checks each one's hash as it "writes" it.
    tarballs: [],
  };
}, { now, commitLog: false });
const total = files.reduce((n, f) => n + f.size, 0);
process.stdout.write(`${dir}: ${files.length} tarballs, ${(total / 1e9).toFixed(2)} GB\n`);
