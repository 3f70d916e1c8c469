import { homedir } from "node:os";
import * as nodePath from "node:path";

/**
 * ferry's profile directory: $FERRY_HOME, else $TIUP_HOME (so TiUP walkthroughs work with
 * `tiup` replaced by `ferry`), else ~/.ferry.
 */
export function ferryHome(env: Record<string, string | undefined>): string {
  const chosen = env.FERRY_HOME || env.TIUP_HOME;
  return nodePath.resolve(chosen || nodePath.join(env.HOME || homedir(), ".ferry"));
}
