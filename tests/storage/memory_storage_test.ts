import { MemoryStorage } from "../../lib/storage/memory_storage.ts";
import { defineStorageConformanceTests } from "./_conformance.ts";

defineStorageConformanceTests(
  "MemoryStorage",
  () => {
    const storage = new MemoryStorage();
    return Promise.resolve({
      reader: storage,
      writer: storage,
      seed: async (path, data) => void (await storage.write(path, data)),
      close: () => Promise.resolve(),
    });
  },
  { canList: true, writable: true, tempFiles: false },
);
