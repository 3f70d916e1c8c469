import { mkdir, stat } from "node:fs/promises";

/** TEMPORARY until the repository writer lands: creates an empty directory. */
export async function ensureDemoMirror(dir: string): Promise<{ dir: string; created: boolean }> {
  const exists = await stat(dir).then(() => true, () => false);
  if (!exists) await mkdir(dir, { recursive: true });
  return { dir, created: !exists };
}
