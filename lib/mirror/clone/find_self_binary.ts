import * as nodePath from "node:path";

/** Interpreters ferry may run under from source: their executable is not ferry. */
const INTERPRETERS = new Set(["deno", "bun", "node", "deno.exe", "bun.exe", "node.exe"]);

/** Where {@linkcode findSelfBinary} found the binary, for messages. */
export type SelfBinarySource = "flag" | "env" | "executable";

/**
 * The ferry executable a clone publishes into the mirror as the `ferry` component: `explicit`
 * (`--ferry-binary FILE`), else `$FERRY_SELF_BINARY`, else the running executable when it is the
 * compiled ferry binary. Under `deno run`/`bun main.ts` there is no single binary to copy, and
 * the result is undefined: the caller says so and carries on without it.
 */
export function findSelfBinary(
  env: Record<string, string | undefined>,
  explicit?: string,
  executable: string = process.execPath,
): { path: string; source: SelfBinarySource } | undefined {
  if (explicit) return { path: nodePath.resolve(explicit), source: "flag" };
  if (env.FERRY_SELF_BINARY) {
    return { path: nodePath.resolve(env.FERRY_SELF_BINARY), source: "env" };
  }
  if (executable && !INTERPRETERS.has(nodePath.basename(executable).toLowerCase())) {
    return { path: executable, source: "executable" };
  }
  return undefined;
}
