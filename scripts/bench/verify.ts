/**
 * Benchmark: `ferry mirror verify` on generated mirrors of 25, 50 and 100 components × 50
 * versions (one small tarball per version), to show how the audit grows with mirror size.
 *
 *   node_modules/.bin/deno run -A scripts/bench/verify.ts [COMPONENTS...]   # default 25 50 100
 *   FERRY_BIN=dist/ferry node_modules/.bin/deno run -A scripts/bench/verify.ts
 *
 * For each size it prints the wall time of the CLI run (median of 3), the per-manifest and
 * per-tarball rates, and two ratios: to the smallest mirror (growth; linear growth means the
 * ratio tracks the component ratio) and to a reference measured in the same run — hashing the
 * same files (sha256 + sha512) and checking one RSA-PSS signature per manifest in-process with
 * no ferry code, i.e. the unavoidable work. Mirrors live in a temp dir that is removed at the end.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { constants, createHash, verify } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { promisify } from "node:util";
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { generateSigningKey } from "../../lib/format/generate_key.ts";
import { hashBytes } from "../../lib/format/hash.ts";
import type { SigningKey } from "../../lib/format/key_info.ts";
import type { SignedBase, VersionItem } from "../../lib/format/manifest_types.ts";
import { addDays, formatRfc3339 } from "../../lib/format/rfc3339.ts";
import { signManifest } from "../../lib/format/sign_manifest.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";

const VERSIONS = 50;
const TARBALL_BYTES = 4096;
const ROUNDS = 3;
const REPO = nodePath.resolve(nodePath.dirname(new URL(import.meta.url).pathname), "..", "..");
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(25, 50, 100);

const run = promisify(execFile);
const print = (line: string) => void process.stdout.write(`${line}\n`);
const now = new Date();
const expires = (days: number) => formatRfc3339(addDays(now, days));
const encoder = new TextEncoder();

function file(signed: SignedBase, keys: SigningKey[]): Uint8Array {
  return encoder.encode(canonicalJson({ signatures: signManifest(signed, keys), signed }));
}

async function ferryCommand(): Promise<string[]> {
  const bin = process.env.FERRY_BIN ??
    (existsSync(nodePath.join(REPO, "dist/ferry")) ? nodePath.join(REPO, "dist/ferry") : "");
  if (bin) {
    const ok = await run(bin, ["mirror", "verify", "--help"]).then(() => true, () => false);
    if (ok) return [bin];
    process.stderr.write(
      `bench: ${bin} has no "mirror verify" (stale build?); running from source\n`,
    );
  }
  return [
    nodePath.join(REPO, "node_modules/.bin/deno"),
    "run",
    "-A",
    nodePath.join(REPO, "main.ts"),
  ];
}

async function buildMirror(dir: string, components: number, keys: SigningKey[]): Promise<void> {
  const [root, index, snapshot, timestamp, owner] = keys as [
    SigningKey,
    SigningKey,
    SigningKey,
    SigningKey,
    SigningKey,
  ];
  const storage = new LocalStorage(dir);
  const map = (...k: SigningKey[]) => Object.fromEntries(k.map((key) => [key.id, key.publicInfo]));
  const rootBytes = file({
    _type: "root",
    expires: expires(365),
    roles: {
      index: { keys: map(index), threshold: 1, url: "/index.json" },
      root: { keys: map(root), threshold: 1, url: "/root.json" },
      snapshot: { keys: map(snapshot), threshold: 1, url: "/snapshot.json" },
      timestamp: { keys: map(timestamp), threshold: 1, url: "/timestamp.json" },
    },
    spec_version: "0.1.0",
    version: 1,
  } as SignedBase, [root]);
  await storage.write("root.json", rootBytes);
  const meta: Record<string, { length: number; version: number }> = {
    "/root.json": { length: rootBytes.length, version: 1 },
  };
  const items: Record<
    string,
    { hidden: boolean; owner: string; standalone: boolean; url: string; yanked: boolean }
  > = {};
  for (let c = 0; c < components; c++) {
    const name = `comp${String(c).padStart(3, "0")}`;
    const versions: Record<string, VersionItem> = {};
    for (let v = 0; v < VERSIONS; v++) {
      const version = `v1.${v}.0`;
      const content = new Uint8Array(TARBALL_BYTES).map((_, i) => (i * 31 + c * 7 + v) & 0xff);
      const tarball = `${name}-${version}-linux-amd64.tar.gz`;
      await storage.write(tarball, content);
      versions[version] = {
        dependencies: null,
        entry: name,
        hashes: hashBytes(content),
        length: content.length,
        released: formatRfc3339(now),
        url: `/${tarball}`,
        yanked: false,
      };
    }
    const bytes = file({
      _type: "component",
      description: name,
      expires: expires(5 * 365),
      id: name,
      nightly: "",
      platforms: { "linux/amd64": versions },
      spec_version: "0.1.0",
      version: 1,
    } as SignedBase, [owner]);
    await storage.write(`1.${name}.json`, bytes);
    meta[`/${name}.json`] = { length: bytes.length, version: 1 };
    items[name] = {
      hidden: false,
      owner: "bench",
      standalone: false,
      url: `/${name}.json`,
      yanked: false,
    };
  }
  const indexBytes = file({
    _type: "index",
    components: items,
    default_components: [],
    expires: expires(365),
    owners: { bench: { keys: map(owner), name: "Bench", threshold: 1 } },
    spec_version: "0.1.0",
    version: 1,
  } as SignedBase, [index]);
  await storage.write("1.index.json", indexBytes);
  meta["/index.json"] = { length: indexBytes.length, version: 1 };
  const snapshotBytes = file(
    {
      _type: "snapshot",
      expires: expires(30),
      meta,
      spec_version: "0.1.0",
      version: 0,
    } as SignedBase,
    [snapshot],
  );
  await storage.write("snapshot.json", snapshotBytes);
  const { sha256, sha512 } = hashBytes(snapshotBytes);
  await storage.write(
    "timestamp.json",
    file({
      _type: "timestamp",
      expires: expires(30),
      meta: { "/snapshot.json": { hashes: { sha256, sha512 }, length: snapshotBytes.length } },
      spec_version: "0.1.0",
      version: 1,
    } as SignedBase, [timestamp]),
  );
}

/** The unavoidable work, without ferry: hash every file, check one signature per manifest. */
async function reference(dir: string, key: SigningKey): Promise<number> {
  const started = performance.now();
  const message = encoder.encode("bench");
  const sig = signManifest("bench", [key])[0]!.sig;
  for (const name of await readdir(dir)) {
    const bytes = await readFile(nodePath.join(dir, name));
    createHash("sha256").update(bytes).digest("hex");
    createHash("sha512").update(bytes).digest("hex");
    if (name.endsWith(".json")) {
      verify("sha256", message, {
        key: key.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_AUTO,
      }, Buffer.from(sig, "base64"));
    }
  }
  return (performance.now() - started) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const work = await mkdtemp(nodePath.join(tmpdir(), "ferry-bench-verify-"));
try {
  const command = await ferryCommand();
  print(`ferry: ${command.join(" ")}`);
  const keys = await Promise.all(
    Array.from({ length: 5 }, () => generateSigningKey().then((k) => k.key)),
  );
  const rows: string[] = [];
  let first: { seconds: number; components: number } | undefined;
  for (const components of sizes) {
    const dir = nodePath.join(work, `m${components}`);
    await buildMirror(dir, components, keys);
    const times: number[] = [];
    let report:
      | { counts: { manifests: number; tarballs: number; bytes: number }; ok: boolean }
      | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      const [bin, ...args] = command;
      const { stdout } = await run(bin!, [...args, "mirror", "verify", dir, "--json"], {
        maxBuffer: 64 << 20,
      });
      times.push((performance.now() - started) / 1000);
      report = JSON.parse(stdout);
    }
    if (!report?.ok) throw new Error(`bench: the ${components}-component mirror did not verify`);
    const seconds = median(times);
    const baseline = median(await Promise.all([0, 1, 2].map(() => reference(dir, keys[0]!))));
    first ??= { seconds, components };
    const { manifests, tarballs, bytes } = report.counts;
    rows.push(
      [
        `${components}x${VERSIONS}`.padEnd(8),
        `${manifests}`.padStart(5),
        `${tarballs}`.padStart(6),
        `${(bytes / 1e6).toFixed(1)}`.padStart(6),
        seconds.toFixed(2).padStart(7),
        `${(manifests / seconds).toFixed(0)}`.padStart(8),
        `${(tarballs / seconds).toFixed(0)}`.padStart(8),
        `${(seconds / first.seconds).toFixed(2)}x`.padStart(7) +
        ` (size ${(components / first.components).toFixed(1)}x)`,
        `${baseline.toFixed(2)}`.padStart(6),
        `${(seconds / baseline).toFixed(1)}x`.padStart(6),
      ].join("  "),
    );
  }
  print(
    "mirror    manif  tarbal      MB   wall s  manif/s  tarb/s  growth              ref s  vs ref",
  );
  for (const row of rows) print(row);
  print(
    "(wall = median of 3 full CLI runs incl. process start-up; ref = in-process hashing of the same files plus one RSA verify per manifest)",
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
