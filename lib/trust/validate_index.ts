import { ManifestFormatError } from "../errors.ts";
import { hasControlCharacter } from "../storage/check_path.ts";
import type { IndexManifest } from "../format/manifest_types.ts";
import { RESERVED_OWNER_IDS } from "../format/repo_defaults.ts";
import { validateKeys } from "./validate_root.ts";

/**
 * The one validity rule for an index (TIUP-FORMAT.md §1.3), applied to every index ferry trusts
 * or writes: owner IDs are not role names (they share the client's key store), every owner's
 * keys meet its threshold (key IDs recomputed), component names are usable file names, every
 * component's owner exists and its url is `/<name>.json`, and every default component is
 * listed. Takes the `signed` object. Throws ManifestFormatError naming `file`.
 */
export function validateIndex(index: IndexManifest, file: string): void {
  const { owners, components, default_components: defaults } = index;
  for (const [id, owner] of Object.entries(owners)) {
    if (RESERVED_OWNER_IDS.includes(id)) {
      throw new ManifestFormatError(
        `Cannot use "${file}": an owner is named "${id}", which would replace the ${id} role's keys`,
      );
    }
    validateKeys(owner.keys, owner.threshold, { file, what: `owner "${id}"` });
  }
  for (const [name, item] of Object.entries(components)) {
    // Component manifests are cached as "<name>.json" next to root.json, index.json…, so role
    // names are refused too (the TiUP server forbids them as component names).
    if (
      name === "" || /[/\\]/.test(name) || hasControlCharacter(name) || /^\.\.?$/.test(name) ||
      RESERVED_OWNER_IDS.includes(name)
    ) {
      throw new ManifestFormatError(
        `Cannot use "${file}": "${name}" is not a usable component name`,
      );
    }
    if (!Object.hasOwn(owners, item.owner)) {
      throw new ManifestFormatError(
        `Cannot use "${file}": component "${name}" has owner "${item.owner}", which the index does not list`,
      );
    }
    if (item.url !== `/${name}.json`) {
      throw new ManifestFormatError(
        `Cannot use "${file}": component "${name}" has url "${item.url}", expected "/${name}.json"`,
      );
    }
  }
  for (const name of defaults ?? []) {
    if (!Object.hasOwn(components, name)) {
      throw new ManifestFormatError(
        `Cannot use "${file}": default component "${name}" is not in its components`,
      );
    }
  }
}
