/**
 * The hand-signed mirror: an in-memory TiUP repository for updater and verifier tests (the
 * "repository simulator" of TUF client test suites). It signs with lib/format only, never with
 * the writer, so it can make what the writer refuses to: a test changes the signed objects in
 * plain fields as an attacker or a careless publisher would and calls the matching `write…()`
 * to sign and store them in `storage`, a MemoryStorage laid out exactly like a mirror directory.
 *
 * Keys are 2048-bit like TiUP's, taken from the pool of test-only keys (tests/_keys.ts):
 * generating them is slow.
 *
 * @module
 */
import { canonicalJson } from "../../lib/format/canonical_json.ts";
import { hashBytes } from "../../lib/format/hash.ts";
import type { PublicKeyInfo, SigningKey } from "../../lib/format/key_info.ts";
import type {
  ComponentManifest,
  IndexManifest,
  RootManifest,
  SignedBase,
  SnapshotManifest,
  TimestampManifest,
  VersionItem,
} from "../../lib/format/manifest_types.ts";
import { addDays, formatRfc3339 } from "../../lib/format/rfc3339.ts";
import { signManifest } from "../../lib/format/sign_manifest.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import { T0 } from "./clock.ts";

const encoder = new TextEncoder();

/** Which keys sign what. */
export interface SimulatorKeys {
  root: SigningKey[];
  index: SigningKey;
  snapshot: SigningKey;
  timestamp: SigningKey;
  /** Owner ID → key. */
  owners: Record<string, SigningKey>;
}

/** Splits a pool of at least 6 keys into roles: 2 root, index, snapshot, timestamp, owner. */
export function assignKeys(pool: SigningKey[]): SimulatorKeys {
  const [root1, root2, index, snapshot, timestamp, owner] = pool;
  if (!root1 || !root2 || !index || !snapshot || !timestamp || !owner) {
    throw new RangeError("assignKeys needs at least 6 keys");
  }
  return { root: [root1, root2], index, snapshot, timestamp, owners: { pingcap: owner } };
}

/** A key map as manifests hold it. */
export function keyMap(keys: SigningKey[]): Record<string, PublicKeyInfo> {
  return Object.fromEntries(keys.map((key) => [key.id, key.publicInfo]));
}

/** A signed file's bytes: canonical JSON of `{signatures, signed}`, as TiUP writes it. */
export function signFile(signed: SignedBase, keys: SigningKey[]): Uint8Array {
  return encoder.encode(canonicalJson({ signatures: signManifest(signed, keys), signed }));
}

/** A mirror being built and tampered with in memory. */
export class MirrorSimulator {
  readonly storage = new MemoryStorage("memory:mirror");
  keys: SimulatorKeys;
  now: Date;
  root: RootManifest;
  /** Keys that sign the next root written (defaults to the current root keys). */
  rootSigners: SigningKey[];
  index: IndexManifest;
  snapshot: SnapshotManifest;
  timestamp: TimestampManifest;
  readonly components = new Map<string, ComponentManifest>();
  /** Tarball path → bytes, for tests that compare what was installed. */
  readonly tarballs = new Map<string, Uint8Array>();

  constructor(keys: SimulatorKeys, now: Date, rootThreshold = keys.root.length) {
    this.keys = keys;
    this.now = now;
    this.rootSigners = keys.root;
    this.root = {
      _type: "root",
      expires: this.expiry(365),
      roles: {
        index: { keys: keyMap([keys.index]), threshold: 1, url: "/index.json" },
        root: { keys: keyMap(keys.root), threshold: rootThreshold, url: "/root.json" },
        snapshot: { keys: keyMap([keys.snapshot]), threshold: 1, url: "/snapshot.json" },
        timestamp: { keys: keyMap([keys.timestamp]), threshold: 1, url: "/timestamp.json" },
      },
      spec_version: "0.1.0",
      version: 1,
    };
    this.index = {
      _type: "index",
      components: {},
      default_components: [],
      expires: this.expiry(365),
      owners: Object.fromEntries(
        Object.entries(keys.owners).map((
          [id, key],
        ) => [id, { keys: keyMap([key]), name: id, threshold: 1 }]),
      ),
      spec_version: "0.1.0",
      version: 1,
    };
    this.snapshot = {
      _type: "snapshot",
      expires: this.expiry(30),
      meta: {},
      spec_version: "0.1.0",
      version: 0,
    };
    this.timestamp = {
      _type: "timestamp",
      expires: this.expiry(30),
      meta: {},
      spec_version: "0.1.0",
      version: 0,
    };
  }

  /** `now` plus `days`, as TiUP writes expiries. */
  expiry(days: number): string {
    return formatRfc3339(addDays(this.now, days));
  }

  /**
   * A new mirror like `mirror init` leaves it: root.json, 1.index.json, snapshot, timestamp,
   * made at `now` (default T0).
   */
  static async create(
    keys: SimulatorKeys,
    options: { now?: Date; rootThreshold?: number } = {},
  ): Promise<MirrorSimulator> {
    const sim = new MirrorSimulator(keys, options.now ?? T0, options.rootThreshold);
    await sim.writeRoot({ unversioned: true });
    await sim.writeIndex();
    await sim.writeSnapshot();
    await sim.writeTimestamp();
    return sim;
  }

  /** The bytes of a stored file. */
  async file(path: string): Promise<Uint8Array> {
    const object = await this.storage.read(path);
    return new Uint8Array(await (object.body as Blob).arrayBuffer());
  }

  /** Copies every stored file into `target` (a LocalStorage, to get a mirror on disk). */
  async copyTo(target: Storage): Promise<void> {
    for await (const { path } of this.storage.list("")) {
      await target.write(path, await this.file(path));
    }
  }

  /** Signs `this.root` with `rootSigners` and writes `N.root.json` (or `root.json`). */
  async writeRoot(options: { unversioned?: boolean } = {}): Promise<Uint8Array> {
    const bytes = signFile(this.root, this.rootSigners);
    // `mirror init` writes only root.json; rotation adds N.root.json and never rewrites root.json.
    await this.storage.write(
      options.unversioned ? "root.json" : `${this.root.version}.root.json`,
      bytes,
    );
    this.snapshot.meta["/root.json"] = { length: bytes.length, version: this.root.version };
    return bytes;
  }

  /**
   * Rotates the root like `mirror rotate`: version N+1 listing `newKeys` (threshold = their
   * count), signed by `signers` (default: old and new keys). Writes `N+1.root.json`.
   */
  async rotateRoot(newKeys: SigningKey[], signers?: SigningKey[]): Promise<Uint8Array> {
    const old = this.keys.root;
    this.keys = { ...this.keys, root: newKeys };
    this.root = structuredClone(this.root);
    this.root.version++;
    this.root.roles.root = { keys: keyMap(newKeys), threshold: newKeys.length, url: "/root.json" };
    this.rootSigners = signers ?? [...old, ...newKeys];
    return await this.writeRoot();
  }

  /** Signs and writes `N.index.json` and records it in the snapshot. */
  async writeIndex(signers: SigningKey[] = [this.keys.index]): Promise<Uint8Array> {
    const bytes = signFile(this.index, signers);
    await this.storage.write(`${this.index.version}.index.json`, bytes);
    this.snapshot.meta["/index.json"] = { length: bytes.length, version: this.index.version };
    return bytes;
  }

  /** Signs and writes `v.<name>.json` and records it in the snapshot. */
  async writeComponent(name: string, signers?: SigningKey[]): Promise<Uint8Array> {
    const manifest = this.components.get(name);
    if (!manifest) throw new RangeError(`No component ${name}`);
    const owner = this.index.components[name]?.owner ?? "pingcap";
    const keys = signers ?? [this.keys.owners[owner]!];
    const bytes = signFile(manifest, keys);
    await this.storage.write(`${manifest.version}.${name}.json`, bytes);
    this.snapshot.meta[`/${name}.json`] = { length: bytes.length, version: manifest.version };
    return bytes;
  }

  /** Signs and writes snapshot.json and records it in the timestamp. */
  async writeSnapshot(signers: SigningKey[] = [this.keys.snapshot]): Promise<Uint8Array> {
    const bytes = signFile(this.snapshot, signers);
    await this.storage.write("snapshot.json", bytes);
    const { sha256, sha512 } = hashBytes(bytes);
    this.timestamp.meta = {
      "/snapshot.json": { hashes: { sha256, sha512 }, length: bytes.length },
    };
    return bytes;
  }

  /** Bumps the timestamp version, signs and writes timestamp.json. */
  async writeTimestamp(
    options: { signers?: SigningKey[]; bump?: boolean } = {},
  ): Promise<Uint8Array> {
    if (options.bump ?? true) this.timestamp.version++;
    const bytes = signFile(this.timestamp, options.signers ?? [this.keys.timestamp]);
    await this.storage.write("timestamp.json", bytes);
    return bytes;
  }

  /** Writes snapshot and timestamp after a change (the last two steps of every publish). */
  async commit(): Promise<void> {
    await this.writeSnapshot();
    await this.writeTimestamp();
  }

  /**
   * Publishes one version like `mirror publish`: tarball, component manifest (new or bumped),
   * index (for a new component), snapshot, timestamp. Returns the version item.
   */
  async publish(
    name: string,
    version: string,
    options: { platform?: string; content?: Uint8Array; owner?: string; commit?: boolean } = {},
  ): Promise<VersionItem> {
    const platform = options.platform ?? "linux/amd64";
    const [os, arch] = platform.split("/");
    const content = options.content ?? encoder.encode(`${name} ${version} ${platform}\n`);
    const file = `${name}-${version}-${os}-${arch}.tar.gz`;
    await this.storage.write(file, content);
    this.tarballs.set(file, content);
    const item: VersionItem = {
      dependencies: null,
      entry: name,
      hashes: hashBytes(content),
      length: content.length,
      released: formatRfc3339(this.now),
      url: `/${file}`,
      yanked: false,
    };
    let manifest = this.components.get(name);
    if (!manifest) {
      manifest = {
        _type: "component",
        description: `The ${name} component`,
        expires: this.expiry(5 * 365),
        id: name,
        nightly: "",
        platforms: {},
        spec_version: "0.1.0",
        version: 0,
      };
      this.components.set(name, manifest);
    }
    manifest.version++;
    (manifest.platforms[platform] ??= {})[version] = item;
    await this.writeComponent(name);
    if (!this.index.components[name]) {
      this.index.components[name] = {
        hidden: false,
        owner: options.owner ?? "pingcap",
        standalone: false,
        url: `/${name}.json`,
        yanked: false,
      };
      this.index.version++;
      await this.writeIndex();
    }
    if (options.commit ?? true) await this.commit();
    return item;
  }
}
