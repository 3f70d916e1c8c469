/**
 * Child process for the "killed writer" test: writes an endless stream to `<root>/<path>`
 * through LocalStorage until the parent kills it with SIGKILL.
 *
 * Usage: <runtime> _killed_writer.ts ROOT PATH
 *
 * @module
 */
import { LocalStorage } from "../../lib/storage/local_storage.ts";

const [root = "", path = ""] = process.argv.slice(2);
const chunk = new Uint8Array(64 * 1024).fill(0x5a);
const endless = new ReadableStream<Uint8Array>({
  async pull(controller) {
    controller.enqueue(chunk);
    await new Promise((resolve) => setTimeout(resolve, 20));
  },
});
await new LocalStorage(root).write(path, endless);
