import { UsageError } from "../errors.ts";
import { extendExpiry } from "../format/extend_expiry.ts";
import type { FileHashes } from "../format/hash.ts";
import type { SigningKey } from "../format/key_info.ts";
import type { ComponentManifest, IndexManifest, VersionItem } from "../format/manifest_types.ts";
import { SPEC_VERSION } from "../format/manifest_types.ts";
import { normalizeManifest } from "../format/normalize_manifest.ts";
import { DEFAULT_EXPIRY_DAYS, NIGHTLY_MARK, PUBLISH_PLATFORMS } from "../format/repo_defaults.ts";
import type { RepositoryChange } from "./repository_change.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";
import { formatRfc3339 } from "../format/rfc3339.ts";
import { checkName } from "../format/check_names.ts";
import { componentUrl, tarballName } from "../format/versioned_name.ts";

/** One build of a component for one platform, ready to publish. */
export interface PublishPackage {
  component: string;
  version: string;
  /** "linux/amd64", "darwin/arm64", … or "any/any". */
  platform: string;
  /** Path of the binary inside the tarball, run by `ferry <component>`. */
  entry: string;
  tarball: {
    sha256: string;
    sha512: string;
    length: number;
    /** The source file's name (any name: the mirror stores it as COMP-VER-OS-ARCH.tar.gz). */
    name?: string;
    /**
     * What the tarball holds, by normalised path (`tarballFromFile` lists it). When given, the
     * entry must be one of its files or links.
     */
    entries?: ReadonlyMap<string, { kind: string; mode: number }>;
    open(): ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
  };
  /** New description (kept when absent or empty). */
  description?: string;
  /** Index flags, applied only when the component is new (as TiUP does). */
  standalone?: boolean;
  hidden?: boolean;
}

/** Options for {@linkcode planPublish}. */
export interface PlanPublishOptions {
  /** The component's current verified manifest; absent for a new component. */
  current?: ComponentManifest;
  /** The owner's signing key(s). */
  keys: SigningKey[];
  now: Date;
  /** Component manifest life from now (default 5 years, never shortened). */
  componentDays?: number;
}

/** A publish transaction and notes for the user. */
export interface PublishPlan {
  change: RepositoryChange;
  notes: string[];
  /** The tarball's name in the mirror. */
  tarballPath: string;
  /** Whether this created the component (and a new index version). */
  created: boolean;
}

/**
 * Builds a publish transaction (pure; TiUP's `UpdateManifestForPublish` + `model.Publish`):
 * the component manifest gets version + 1 (1 when new), expiry extended to ≥ now + 5 y, the new
 * description if given, and `platforms[os/arch][version]` = {entry, released: now, url:
 * `/<comp>-<ver>-<os>-<arch>.tar.gz`, hashes, length, dependencies: null}. A version containing
 * "nightly" becomes `nightly` and every other nightly is removed from all platforms. A new
 * component is added to the index (new version, expiry ≥ now + 1 y) under the owner whose keys
 * include the signing key, with `standalone`/`hidden`; for an existing one those flags are
 * ignored with a note. The source file may have any name (as with TiUP). Refuses: unknown
 * platform, bad names, an empty entry or (when the tarball's entries are known) one the tarball
 * does not hold as a file or link, a key no owner (or not this component's owner) holds, and
 * re-publishing an existing version+platform with different bytes.
 */
export function planPublish(
  state: RepositoryState,
  pkg: PublishPackage,
  options: PlanPublishOptions,
): PublishPlan {
  const current = options.current;
  const id = checkName("component", pkg.component);
  const version = checkName("version", pkg.version);
  if (!PUBLISH_PLATFORMS.includes(pkg.platform)) {
    throw new UsageError(
      `Cannot publish for platform "${pkg.platform}": use one of ${PUBLISH_PLATFORMS.join(", ")}`,
    );
  }
  if (typeof pkg.entry !== "string" || pkg.entry.trim() === "") {
    throw new UsageError(
      `Cannot publish "${id}" ${version}: the entry (path of the binary in the tarball) is empty`,
    );
  }
  const [os = "", arch = ""] = pkg.platform.split("/");
  const name = tarballName(id, version, os, arch);
  const notes: string[] = [];
  checkEntry(pkg, id, version, notes);
  if (options.keys.length === 0) throw new UsageError(`Cannot publish "${id}": no key given`);

  const index = state.index.manifest.signed;
  const where = `${state.location.replace(/\/+$/, "")}/${state.index.path}`;
  const item = Object.hasOwn(index.components, id) ? index.components[id] : undefined;
  const keyIds = options.keys.map((k) => k.id);
  let newIndex: IndexManifest | undefined;
  if (item) {
    const owner = index.owners[item.owner];
    const foreign = keyIds.find((k) => !owner || !Object.hasOwn(owner.keys, k));
    if (foreign) {
      throw new UsageError(
        `Cannot publish "${id}": it belongs to owner "${item.owner}" and key ${
          foreign.slice(0, 16)
        } is not one of that owner's keys in "${where}"; sign with the owner's key (-k)`,
      );
    }
    if (pkg.standalone !== undefined || pkg.hidden !== undefined) {
      notes.push(
        `"${id}" already exists: --standalone and --hide apply only to new components; use "ferry mirror modify ${id}" to change them`,
      );
    }
    if (!current) throw new TypeError(`The current manifest of "${id}" is required`);
  } else {
    const ownerId = Object.keys(index.owners).find((o) =>
      keyIds.every((k) => Object.hasOwn(index.owners[o]!.keys, k))
    );
    if (ownerId === undefined) {
      throw new UsageError(
        `Cannot publish "${id}": key ${
          keyIds[0]!.slice(0, 16)
        } belongs to no owner in "${where}"; ` +
          `grant it first: ferry mirror grant <owner-id> -k <key file>`,
      );
    }
    newIndex = normalizeManifest(index);
    newIndex.version = index.version + 1;
    newIndex.expires = extendExpiry(index.expires, options.now, DEFAULT_EXPIRY_DAYS.index);
    newIndex.components[id] = {
      hidden: pkg.hidden === true,
      owner: ownerId,
      standalone: pkg.standalone === true,
      url: componentUrl(id),
      yanked: false,
    };
  }

  const released = formatRfc3339(options.now);
  const componentDays = options.componentDays ?? DEFAULT_EXPIRY_DAYS.component;
  let manifest: ComponentManifest;
  if (current) {
    manifest = normalizeManifest(current);
    manifest.version = current.version + 1;
    manifest.expires = extendExpiry(current.expires, options.now, componentDays);
    if (pkg.description) manifest.description = pkg.description;
    const existing = manifest.platforms[pkg.platform]?.[version];
    if (existing && existing.hashes.sha256 !== pkg.tarball.sha256) {
      throw new UsageError(
        `Cannot publish "${id}" ${version} for ${pkg.platform}: it is already published with ` +
          `different content ("${name}"); clients and caches keep versioned tarballs forever, ` +
          `so publish it under a new version`,
      );
    }
  } else {
    manifest = {
      _type: "component",
      description: pkg.description ?? "",
      expires: extendExpiry(undefined, options.now, componentDays),
      id,
      nightly: "",
      platforms: {},
      spec_version: SPEC_VERSION,
      version: 1,
    };
  }
  if (version.includes(NIGHTLY_MARK)) manifest.nightly = version;
  // UpdateManifestForPublish: every nightly other than the current one leaves every platform.
  for (const versions of Object.values(manifest.platforms)) {
    for (const v of Object.keys(versions)) {
      if (v.includes(NIGHTLY_MARK) && v !== manifest.nightly) delete versions[v];
    }
  }
  const hashes: FileHashes = { sha256: pkg.tarball.sha256, sha512: pkg.tarball.sha512 };
  const versionItem: VersionItem = {
    dependencies: null,
    entry: pkg.entry,
    hashes,
    length: pkg.tarball.length,
    released,
    url: `/${name}`,
    yanked: false,
  };
  manifest.platforms[pkg.platform] = {
    ...manifest.platforms[pkg.platform],
    [version]: versionItem,
  };

  return {
    change: {
      tarballs: [{
        path: name,
        sha256: pkg.tarball.sha256,
        length: pkg.tarball.length,
        open: pkg.tarball.open,
      }],
      components: [{ manifest, keys: options.keys }],
      ...(newIndex ? { index: newIndex } : {}),
    },
    notes,
    tarballPath: name,
    created: !item,
  };
}

/**
 * The entry is what `ferry <component>` (and tiup) runs from the unpacked tarball, so one that
 * is not there, or is a directory, would make every install of this version fail later.
 */
function checkEntry(pkg: PublishPackage, id: string, version: string, notes: string[]): void {
  const entries = pkg.tarball.entries;
  if (entries === undefined) return;
  const path = pkg.entry.split("/").filter((part) => part !== "" && part !== ".").join("/");
  const found = entries.get(path);
  const what = `Cannot publish "${id}" ${version} with entry "${pkg.entry}"`;
  if (found === undefined) {
    const files = [...entries].filter(([, e]) => e.kind === "file").map(([file]) => file);
    const shown = files.slice(0, 5).map((f) => `"${f}"`).join(", ");
    throw new UsageError(
      `${what}: the tarball${pkg.tarball.name ? ` "${pkg.tarball.name}"` : ""} has no such ` +
        `file${files.length > 0 ? `; it holds ${shown}${files.length > 5 ? ", …" : ""}` : ""} ` +
        `(ENTRY is the executable's path inside the tarball)`,
    );
  }
  if (found.kind !== "file" && found.kind !== "symlink" && found.kind !== "link") {
    throw new UsageError(`${what}: that is a ${found.kind} in the tarball, not an executable file`);
  }
  if (found.kind === "file" && (found.mode & 0o111) === 0) {
    notes.push(
      `"${path}" is not executable in the tarball (mode ${found.mode.toString(8)}): ` +
        `"ferry ${id}" will not be able to run it`,
    );
  }
}
