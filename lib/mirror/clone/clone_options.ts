/**
 * What a clone is asked to do and what it reports, and the constants every clone phase shares
 * (cloneMirror and its phases import these; callers import them through clone_mirror.ts).
 *
 * @module
 */
import type { ProgressEvent } from "../../progress_events.ts";
import type { SigningKey } from "../../format/key_info.ts";
import type { Storage } from "../../storage/storage.ts";
import type { DownloadReport } from "./download_files.ts";

/** TiUP's clone signs everything for 50 years (clone_mirror.go); an offline mirror must not go stale. */
export const CLONE_EXPIRY_DAYS = 50 * 365;
/** The owner a clone signs its components as, named as TiUP's clone names it. */
export const CLONE_OWNER_ID = "pingcap";
/** The owner's display name in the clone's index. */
export const CLONE_OWNER_NAME = "PingCAP";
/** TiUP's default platforms for clone (`-o linux,darwin -a amd64,arm64`). */
export const DEFAULT_CLONE_OS = ["linux", "darwin"];
export const DEFAULT_CLONE_ARCH = ["amd64", "arm64"];

/** The ferry binaries to publish into the clone as the `ferry` component. */
export interface SelfBinaryOptions {
  /** TiUP-style version ("v0.1.0"). */
  version: string;
  /** The executable for each platform one is available for: "linux/arm64" → path. */
  binaries: Record<string, string>;
  /** Where binaries for more platforms were looked for, named in the note about missing ones. */
  searched?: string;
  /** Where each platform's packed tarball is kept between clones (see packageSelf). */
  packCaches?: Record<string, string>;
}

/** Options for `cloneMirror()` (clone_mirror.ts). */
export interface CloneOptions {
  /** Operating systems to carry (default linux, darwin; with `full`, every one the source has). */
  os?: string[];
  /** Architectures to carry (default amd64, arm64; with `full`, every one the source has). */
  arch?: string[];
  /** Every version of every component (`-f/--full`). */
  full?: boolean;
  /** Versions select by prefix (`--prefix`). */
  prefix?: boolean;
  /** Per-component versions (`--tidb v7.5.0,latest`): name → values. */
  components?: Record<string, string[]>;
  /** Global versions (positional arguments). */
  versions?: string[];
  /** Replace target files whose content differs from the source. */
  overwrite?: boolean;
  /**
   * Select as usual and write every manifest, but fetch no tarball (`--no-tarballs`): the
   * clone lists what it carries and a pull-through server (`ferry mirror serve --upstream`)
   * fetches each tarball on first request, verified against these manifests. Installer copies
   * (`tiup-<os>-<arch>.tar.gz`, `ferry-<os>-<arch>.tar.gz`) are not made either.
   */
  noTarballs?: boolean;
  /** Parallel transfers (default 8). */
  jobs?: number;
  now?: Date;
  /**
   * Publish these ferry binaries, one per selected platform, as the `ferry` component and as
   * `ferry-<os>-<arch>.tar.gz`.
   */
  self?: SelfBinaryOptions;
  /**
   * The source's root.json to trust (`--source-root`, a profile's bin/root.json). Default: the
   * source's own root.json, trusted on first use (as `tiup mirror set` does).
   */
  trustedRoot?: Uint8Array;
  /**
   * A client profile's verified-manifest cache for the source (its `manifests/` directory): its
   * root is the trust anchor and its versions the rollback floor, and it is updated.
   */
  sourceCache?: Storage;
  /** The URL clients will use, baked into install.sh. */
  publicUrl?: string;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Makes the keys of a new clone (default: fresh RSA-2048 keys; tests hand out prepared ones). */
  generateKey?: () => Promise<SigningKey>;
}

/** One component of the clone. */
export interface ClonedComponent {
  id: string;
  /** Versions clients can install, counted once per platform. */
  versions: number;
  /** Whether this run wrote a new manifest for it. */
  changed: boolean;
}

/**
 * What `cloneMirror()` (clone_mirror.ts) did: the transfers' report (files fetched, already
 * there, missing at the source, conflicting, failed with their errors, bytes), and the rest.
 */
export interface CloneReport extends DownloadReport {
  /** The target had no mirror before this run. */
  created: boolean;
  components: ClonedComponent[];
  /** Whether manifests were written (false for a refresh that found nothing new). */
  changed: boolean;
  timestampVersion: number;
  notes: string[];
  /** Platforms whose ferry binary was packed this run (not found already in the target). */
  packed: string[];
  /**
   * Selected platforms the clone carries no ferry for: no binary was given and the source has
   * none, so local_install.sh cannot install ferry there. Only when `self` was given.
   */
  ferryMissing: string[];
}
