import { UsageError } from "../errors.ts";
import type { VersionItem } from "../format/manifest_types.ts";

/**
 * The version asked for is marked yanked on the mirror. A UsageError (exit code 2). TiUP's
 * format has one flag for two facts: a publisher withdrew the version (`mirror modify --yank`),
 * or a clone lists a version it did not copy (TIUP-FORMAT.md §6.1). `carried` tells them apart:
 * false when the mirror does not hold the version's tarball.
 */
export class YankedVersionError extends UsageError {
  override name = "YankedVersionError";
  constructor(
    readonly component: string,
    readonly version: string,
    readonly item: VersionItem,
    readonly carried = true,
  ) {
    super(
      carried
        ? `Cannot use ${component}:${version}: it is yanked (withdrawn by its publisher); see "ferry list ${component}" for other versions`
        : `Cannot use ${component}:${version}: this mirror does not carry it (it lists the version as yanked, as a clone does for the versions it did not copy); see "ferry list ${component}" for the versions it has, or use a mirror that has this one`,
    );
  }
}
