import { initRepository } from "../../lib/writer/init_repository.ts";
import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { takeTestKeys } from "../_keys.ts";

/** An empty bundle (a mirror with one key per role, root threshold 1) in memory. */
export async function emptyBundle(): Promise<MemoryStorage> {
  const storage = new MemoryStorage("mem://bundle");
  const [root, index, snapshot, timestamp] = takeTestKeys(4) as [
    ReturnType<typeof takeTestKeys>[0],
    ReturnType<typeof takeTestKeys>[0],
    ReturnType<typeof takeTestKeys>[0],
    ReturnType<typeof takeTestKeys>[0],
  ];
  await initRepository(storage, {
    keys: { root: [root], index: [index], snapshot: [snapshot], timestamp: [timestamp] },
  });
  return storage;
}
