/**
 * A writer to be killed: starts a multipart upload of `killed.bin` into s3://BUCKET/PREFIX (the
 * configuration from the environment), prints "parts" once it has sent two parts' worth of
 * data, and then never sends the rest. Run by s3_storage_test.ts, which SIGKILLs it.
 */
import { loadS3Config } from "../../lib/storage/s3_config.ts";
import { S3Storage } from "../../lib/storage/s3_storage.ts";
import { patternBytes } from "./_conformance.ts";

const [bucket, prefix] = process.argv.slice(-2) as [string, string];
const storage = new S3Storage({ bucket, prefix: `${prefix}/` }, {
  config: await loadS3Config(process.env),
  partBytes: 5 * 1024 * 1024,
});
let sent = 0;
const endless = new ReadableStream<Uint8Array>({
  async pull(controller) {
    if (sent === 2) {
      process.stdout.write("parts\n");
      await new Promise(() => {});
    }
    controller.enqueue(patternBytes(5 * 1024 * 1024));
    sent++;
  },
});
await storage.write("killed.bin", endless);
