import { ManifestFormatError } from "../errors.ts";
import { KEY_SCHEME, KEY_TYPE } from "./key_info.ts";
import {
  type ComponentManifest,
  type IndexManifest,
  type ManifestType,
  type RootManifest,
  type SignedBase,
  type SnapshotManifest,
  SPEC_VERSION,
  type TimestampManifest,
  type Unverified,
} from "./manifest_types.ts";
import { TOP_LEVEL_ROLES } from "./repo_defaults.ts";
import { parseRfc3339 } from "./rfc3339.ts";
import { signedSpan } from "./signed_span.ts";

/** The signed object each manifest type decodes to. */
export interface ManifestTypes {
  root: RootManifest;
  index: IndexManifest;
  component: ComponentManifest;
  snapshot: SnapshotManifest;
  timestamp: TimestampManifest;
}

/** What {@linkcode decodeManifest} returns: an unverified manifest and what it noticed. */
export type DecodedManifest<T extends SignedBase> = Unverified<T> & {
  /** The file name used in messages ("3.index.json"). */
  readonly file: string;
  /**
   * Fields outside TiUP's current Go field set that were tolerated: extra ones
   * ("signed.name") and legacy ones that are missing ("signed.components.tidb.hidden
   * (missing)"). Signatures cover the raw bytes, so these still verify, but a Go client that
   * caches the manifest by re-serializing its struct breaks its own copy (TIUP-FORMAT.md §5.6).
   */
  readonly legacyFields: readonly string[];
};

const KEY_ID = /^[0-9a-f]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes a manifest file strictly, without checking any signature (TIUP-FORMAT.md §1):
 * valid UTF-8 JSON; an object with exactly `signatures` (`{keyid: 64 lowercase hex, sig:
 * base64}`) and `signed`; `signed._type` equal to `expectedType`; `spec_version` exactly
 * "0.1.0"; every field of the role's Go field set present with the right JSON type (versions,
 * lengths and thresholds non-negative safe integers, `expires` RFC 3339), nested maps and items
 * included; a root lists all four roles; key infos are rsa / rsassa-pss-sha256 and carry no
 * private key. Extra fields, and the fields 2020-era manifests lack (index items' `hidden` and
 * `standalone`, a component's `nightly`; Go reads them as false and ""), are tolerated, filled
 * with Go's zero value and listed in `legacyFields`. A missing owner `threshold` is not: Go
 * reads it as 0, which no client accepts.
 *
 * The returned `signedBytes` are the raw bytes of the `signed` member as stored: signatures are
 * checked over those, never over a re-serialization (§2).
 *
 * Throws SyntaxError (naming the file) for bytes that are not UTF-8 JSON, and ManifestFormatError
 * naming the file and the field otherwise:
 * `Cannot read "3.index.json": signed.owners.pingcap.threshold is missing`.
 * Size caps are the caller's: see `MAX_TIMESTAMP_BYTES` and its siblings in repo_defaults.ts.
 *
 * @example
 * ```ts
 * const index = decodeManifest(bytes, "index", "3.index.json");
 * index.signed.owners; // still unverified: pass it to verifyManifest()
 * ```
 */
export function decodeManifest<K extends ManifestType>(
  bytes: Uint8Array,
  expectedType: K,
  file: string,
): DecodedManifest<ManifestTypes[K]> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SyntaxError(`Cannot read "${file}": it is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`Cannot read "${file}": it is not valid JSON (${messageOf(error)})`, {
      cause: error,
    });
  }
  const check = new Checker(file);
  const envelope = check.object(json, "the file");
  check.exactly(envelope, "", ["signatures", "signed"]);
  let signedBytes: Uint8Array;
  try {
    signedBytes = signedSpan(bytes);
  } catch (error) {
    throw new SyntaxError(`Cannot read "${file}": ${messageOf(error)}`, { cause: error });
  }
  const signatures = envelope.signatures === null
    ? []
    : check.array(envelope.signatures, "signatures").map((entry, i) => {
      const path = `signatures[${i}]`;
      const signature = check.fields(entry, path, ["keyid", "sig"]);
      const keyid = check.string(signature.keyid, `${path}.keyid`);
      if (!KEY_ID.test(keyid)) check.fail(`${path}.keyid is not 64 lowercase hex digits`);
      const sig = check.string(signature.sig, `${path}.sig`);
      if (sig === "" || !BASE64.test(sig)) check.fail(`${path}.sig is not standard base64`);
      return { keyid, sig };
    });
  const signed = check.object(envelope.signed, "signed");
  const type = check.string(signed._type, "signed._type");
  if (type !== expectedType) {
    check.fail(`signed._type is "${type}", expected "${expectedType}"`);
  }
  ROLE_CHECKS[expectedType](check, signed);
  const decoded = {
    signatures,
    signed,
    signedBytes,
    fileBytes: bytes,
    file,
    legacyFields: check.legacy,
  };
  return decoded as unknown as DecodedManifest<ManifestTypes[K]>;
}

type Json = Record<string, unknown>;

const BASE_FIELDS = ["_type", "expires", "spec_version", "version"];

const ROLE_CHECKS: Record<ManifestType, (check: Checker, signed: Json) => void> = {
  root(check, signed) {
    check.base(signed, ["roles"]);
    const roles = check.object(signed.roles, "signed.roles");
    check.exactly(roles, "signed.roles", [...TOP_LEVEL_ROLES], true);
    for (const role of TOP_LEVEL_ROLES) {
      const path = `signed.roles.${role}`;
      const value = check.fields(roles[role], path, ["keys", "threshold", "url"]);
      check.keys(value, `${path}.keys`);
      check.uint(value.threshold, `${path}.threshold`);
      check.string(value.url, `${path}.url`);
    }
  },
  index(check, signed) {
    check.base(signed, ["components", "default_components", "owners"]);
    check.map(signed, "owners", "signed.owners", (owner, path) => {
      const value = check.object(owner, path);
      if (value.threshold === undefined) {
        // A 2020-era clone put `threshold` on component items instead. Go reads the missing
        // owner threshold as 0, which current clients refuse ("invalid threshold (0)").
        check.fail(`${path}.threshold is missing (TiUP reads it as 0 and refuses the index)`);
      }
      check.fields(value, path, ["keys", "name", "threshold"]);
      check.keys(value, `${path}.keys`);
      check.string(value.name, `${path}.name`);
      check.uint(value.threshold, `${path}.threshold`);
    });
    check.map(signed, "components", "signed.components", (item, path) => {
      const value = check.object(item, path);
      // 2020-era index items lack these; Go reads them as false.
      check.legacyDefault(value, path, "hidden", false);
      check.legacyDefault(value, path, "standalone", false);
      check.fields(value, path, ["hidden", "owner", "standalone", "url", "yanked"]);
      check.boolean(value.hidden, `${path}.hidden`);
      check.string(value.owner, `${path}.owner`);
      check.boolean(value.standalone, `${path}.standalone`);
      check.string(value.url, `${path}.url`);
      check.boolean(value.yanked, `${path}.yanked`);
    });
    if (signed.default_components !== null) {
      check.array(signed.default_components, "signed.default_components").forEach((name, i) =>
        check.string(name, `signed.default_components[${i}]`)
      );
    }
  },
  component(check, signed) {
    // 2020-era component manifests predate `nightly`; Go reads it as "".
    check.object(signed, "signed");
    check.legacyDefault(signed, "signed", "nightly", "");
    check.base(signed, ["description", "id", "nightly", "platforms"]);
    check.string(signed.description, "signed.description");
    check.string(signed.id, "signed.id");
    check.string(signed.nightly, "signed.nightly");
    check.map(signed, "platforms", "signed.platforms", (_versions, platformPath, os, platforms) => {
      check.map(platforms, os, platformPath, (item, path) => {
        const value = check.fields(item, path, [
          "dependencies",
          "entry",
          "hashes",
          "length",
          "released",
          "url",
          "yanked",
        ]);
        if (value.dependencies !== null) {
          check.map(value, "dependencies", `${path}.dependencies`, (v, p) => check.string(v, p));
        }
        check.string(value.entry, `${path}.entry`);
        check.map(value, "hashes", `${path}.hashes`, (v, p) => check.string(v, p));
        check.uint(value.length, `${path}.length`);
        check.string(value.released, `${path}.released`);
        check.string(value.url, `${path}.url`);
        check.boolean(value.yanked, `${path}.yanked`);
      });
    });
  },
  snapshot(check, signed) {
    check.base(signed, ["meta"]);
    check.map(signed, "meta", "signed.meta", (entry, path) => {
      const value = check.fields(entry, path, ["length", "version"]);
      check.uint(value.length, `${path}.length`);
      check.uint(value.version, `${path}.version`);
    });
  },
  timestamp(check, signed) {
    check.base(signed, ["meta"]);
    check.map(signed, "meta", "signed.meta", (entry, path) => {
      const value = check.fields(entry, path, ["hashes", "length"]);
      check.map(value, "hashes", `${path}.hashes`, (v, p) => check.string(v, p));
      check.uint(value.length, `${path}.length`);
    });
  },
};

/** Field checks that throw ManifestFormatError naming the file and the JSON path. */
class Checker {
  readonly legacy: string[] = [];
  constructor(readonly file: string) {}

  fail(message: string): never {
    throw new ManifestFormatError(`Cannot read "${this.file}": ${message}`);
  }

  present(value: unknown, path: string): void {
    if (value === undefined) this.fail(`${path} is missing`);
  }

  object(value: unknown, path: string): Json {
    this.present(value, path);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(`${path} must be an object, not ${describe(value)}`);
    }
    return value as Json;
  }

  array(value: unknown, path: string): unknown[] {
    this.present(value, path);
    if (!Array.isArray(value)) this.fail(`${path} must be an array, not ${describe(value)}`);
    return value;
  }

  string(value: unknown, path: string): string {
    this.present(value, path);
    if (typeof value !== "string") this.fail(`${path} must be a string, not ${describe(value)}`);
    return value;
  }

  boolean(value: unknown, path: string): boolean {
    this.present(value, path);
    if (typeof value !== "boolean") {
      this.fail(`${path} must be true or false, not ${describe(value)}`);
    }
    return value;
  }

  uint(value: unknown, path: string): number {
    this.present(value, path);
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      this.fail(`${path} must be a non-negative integer, not ${describe(value)}`);
    }
    return value;
  }

  /** An object that must have every name in `known`; extra members are noted as legacy. */
  fields(value: unknown, path: string, known: string[]): Json {
    const object = this.object(value, path);
    for (const name of known) this.present(object[name], join(path, name));
    for (const name of Object.keys(object)) {
      if (!known.includes(name)) this.legacy.push(join(path, name));
    }
    return object;
  }

  /** An object that must have exactly the names in `known` (extras refused unless `lenient`). */
  exactly(object: Json, path: string, known: string[], lenient = false): void {
    for (const name of known) this.present(object[name], join(path, name));
    for (const name of Object.keys(object)) {
      if (known.includes(name)) continue;
      if (!lenient) this.fail(`${join(path, name)} is not allowed (expected only ${known})`);
      this.legacy.push(join(path, name));
    }
  }

  /** Fills a field that older TiUP did not write with Go's zero value, and notes it. */
  legacyDefault(object: Json, path: string, name: string, zero: unknown): void {
    if (object[name] !== undefined) return;
    this.legacy.push(`${join(path, name)} (missing)`);
    object[name] = zero;
  }

  /** A map member (Go nil map = null, read as empty) whose values each pass `each`. */
  map(
    parent: Json,
    name: string,
    path: string,
    each: (value: unknown, path: string, key: string, map: Json) => void,
  ): void {
    const value = parent[name];
    if (value === null) {
      parent[name] = {};
      return;
    }
    const object = this.object(value, path);
    for (const [key, entry] of Object.entries(object)) each(entry, join(path, key), key, object);
  }

  /** A `keys` map: key ID → public KeyInfo. */
  keys(parent: Json, path: string): void {
    this.map(parent, "keys", path, (info, keyPath, id) => {
      if (!KEY_ID.test(id)) {
        this.fail(`${keyPath} is not a key ID (64 lowercase hex digits)`);
      }
      const value = this.fields(info, keyPath, ["keytype", "keyval", "scheme"]);
      const keytype = this.string(value.keytype, `${keyPath}.keytype`);
      const scheme = this.string(value.scheme, `${keyPath}.scheme`);
      if (keytype !== KEY_TYPE || scheme !== KEY_SCHEME) {
        this.fail(`${keyPath} is a ${keytype}/${scheme} key, expected ${KEY_TYPE}/${KEY_SCHEME}`);
      }
      const keyval = this.object(value.keyval, `${keyPath}.keyval`);
      if (keyval.private !== undefined) {
        this.fail(`${keyPath}.keyval holds a private key: remove it and rotate that key`);
      }
      const pem = this.string(keyval.public, `${keyPath}.keyval.public`);
      if (pem === "") this.fail(`${keyPath}.keyval.public is empty`);
      for (const extra of Object.keys(keyval)) {
        if (extra !== "public") this.legacy.push(`${keyPath}.keyval.${extra}`);
      }
    });
  }

  /** The common base plus a role's own fields. */
  base(signed: Json, own: string[]): void {
    this.fields(signed, "signed", [...BASE_FIELDS, ...own]);
    const spec = this.string(signed.spec_version, "signed.spec_version");
    if (spec !== SPEC_VERSION) {
      this.fail(
        `unknown manifest version "${spec}" (signed.spec_version must be "${SPEC_VERSION}")`,
      );
    }
    const expires = this.string(signed.expires, "signed.expires");
    try {
      parseRfc3339(expires);
    } catch {
      this.fail(`signed.expires is not an RFC 3339 time: "${expires}"`);
    }
    this.uint(signed.version, "signed.version");
  }
}

function join(path: string, name: string): string {
  const member = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
  return path === "" ? member.replace(/^\./, "") : `${path}${member}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === "object") return "an object";
  return String(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
