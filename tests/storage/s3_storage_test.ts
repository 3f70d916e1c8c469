/**
 * S3Storage against a real S3 server: Ceph RADOS Gateway (pacific), started once for this file
 * by the project's rig. The conformance suite, then what only S3 has: multipart uploads that are
 * invisible until complete and never left behind, conditional creates, retries, deadlines, TLS.
 */
import { AwsClient } from "aws4fetch";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  AlreadyExistsError,
  DownloadError,
  NotFoundError,
  StorageError,
  TooLargeError,
} from "../../lib/errors.ts";
import { runtimeName } from "../../lib/runtime.ts";
import { collectBytes } from "../../lib/storage/read_bytes.ts";
import { loadS3Config } from "../../lib/storage/s3_config.ts";
import { S3Storage } from "../../lib/storage/s3_storage.ts";
import { defineStorageConformanceTests, patternBytes, streamOf } from "./_conformance.ts";
import { S3_SKIP, s3Rig, stopS3Rig } from "./_s3_rig.ts";

const MIB = 1024 * 1024;
const HEAVY = { timeout: 240_000 };

after(stopS3Rig);

if (S3_SKIP) {
  test("S3Storage against Ceph RGW", { skip: S3_SKIP }, () => {});
} else {
  defineStorageConformanceTests(
    "S3Storage",
    async () => {
      const rig = await s3Rig();
      const storage = await rig.storage();
      return {
        reader: storage,
        writer: storage,
        seed: async (path, data) => void (await storage.write(path, data)),
        close: () => rig.empty(storage),
      };
    },
    { canList: true, writable: true, tempFiles: false },
  );
  defineS3Tests();
}

/** The multipart uploads under the storage's prefix that are still open on the server. */
async function openUploads(storage: S3Storage): Promise<string[]> {
  const rig = await s3Rig();
  const prefix = storage.location.replace(`s3://${rig.bucket}/`, "") + "/";
  const response = await rawClient(rig.env).fetch(
    `${rig.env.AWS_ENDPOINT_URL}/${rig.bucket}?prefix=${encodeURIComponent(prefix)}&uploads=`,
  );
  const xml = await response.text();
  assert.equal(response.status, 200, xml);
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
}

function rawClient(env: Record<string, string>): AwsClient {
  return new AwsClient({
    accessKeyId: env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
    service: "s3",
    region: env.AWS_REGION!,
    retries: 0,
  });
}

async function text(storage: S3Storage, path: string): Promise<string> {
  return new TextDecoder().decode(await collectBytes((await storage.read(path)).body));
}

/** A stream of `parts` parts of `partBytes`, pausing before part `pauseAt` until released. */
function pausingStream(partBytes: number, parts: number, pauseAt: number) {
  let release: (failure?: Error) => void = () => {};
  const gate = new Promise<Error | undefined>((resolve) => (release = resolve));
  let paused: () => void = () => {};
  const reachedPause = new Promise<void>((resolve) => (paused = resolve));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === pauseAt) {
        paused();
        const failure = await gate;
        if (failure) return controller.error(failure);
      }
      if (sent === parts) return controller.close();
      controller.enqueue(patternBytes(partBytes).map((b) => b ^ sent));
      sent++;
    },
  });
  return { stream, reachedPause, release };
}

/** The part number of an UploadPart request; undefined for any other request. */
function partNumberOf(request: Request): number | undefined {
  const number = new URL(request.url).searchParams.get("partNumber");
  return request.method === "PUT" && number !== null ? Number(number) : undefined;
}

/**
 * A fetch that counts the UploadPart requests on their way and holds each until `holdUntil` are
 * on their way at once. A writer that never gets there (one part at a time) is let go after
 * 20 s, to fail on the count rather than hang; `release` stops the timer.
 */
function countingPartFetch(holdUntil: number) {
  const seen = { inFlight: 0, most: 0, answered: 0 };
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  const fallback = setTimeout(open, 20_000);
  const fetchFn = async (request: Request): Promise<Response> => {
    if (partNumberOf(request) === undefined) return await fetch(request);
    seen.inFlight++;
    seen.most = Math.max(seen.most, seen.inFlight);
    if (seen.inFlight >= holdUntil) open();
    try {
      await opened;
      const response = await fetch(request);
      seen.answered++;
      return response;
    } finally {
      seen.inFlight--;
    }
  };
  return { seen, fetch: fetchFn, release: () => (open(), clearTimeout(fallback)) };
}

/** A stream of `parts` chunks of `bytes` each, told apart; pulled only when read (no queue). */
function countedStream(bytes: number, parts: number, onPull: (pulled: number) => void) {
  const chunks = Array.from({ length: parts }, (_, i) => patternBytes(bytes).map((b) => b ^ i));
  const state = { pulled: 0, cancelled: false, chunks };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled === parts) return controller.close();
      controller.enqueue(chunks[state.pulled++]!);
      onPull(state.pulled);
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

function defineS3Tests(): void {
  test(
    "S3Storage: copy() of an object over CopyObject's limit streams it instead, whole",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      // The limit lowered so that a 6 MiB object stands for one over 5 GiB (which CopyObject
      // refuses); each request's copy source is noted.
      const copySources: string[] = [];
      const storage = await rig.storage({
        partBytes: 5 * MIB,
        maxCopyBytes: 6 * MIB - 1,
        fetch: (request) => {
          const source = request.headers.get("x-amz-copy-source");
          if (source) copySources.push(source);
          return fetch(request);
        },
      });
      try {
        const bytes = patternBytes(6 * MIB);
        await storage.write("big.tar.gz", bytes);
        await storage.write("small.tar.gz", bytes.subarray(1));
        const stat = await storage.copy("big.tar.gz", "commits/commit-1/big.tar.gz");
        assert.equal(stat.size, bytes.length);
        const got = await collectBytes((await storage.read("commits/commit-1/big.tar.gz")).body);
        assert.deepEqual(got, bytes);
        assert.deepEqual(copySources, [], "the large object was copied by CopyObject");
        // At the limit and below, the copy stays on the server.
        await storage.copy("small.tar.gz", "commits/commit-1/small.tar.gz");
        assert.equal(copySources.length, 1);
        await assert.rejects(storage.copy("missing.tar.gz", "x.tar.gz"), NotFoundError);
      } finally {
        await rig.empty(storage);
      }
    },
  );

  test(
    "S3Storage: a stream over the part size goes up in parts and reads back whole",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      const storage = await rig.storage({ partBytes: 5 * MIB });
      try {
        const chunks = Array.from({ length: 11 }, (_, i) => patternBytes(MIB).map((b) => b ^ i));
        const stat = await storage.write("big.bin", streamOf(chunks));
        assert.equal(stat.size, 11 * MIB);
        // A multipart object's ETag ends in "-<number of parts>".
        assert.match((await storage.stat("big.bin")).identity ?? "", /-3"?$/);
        const got = await collectBytes((await storage.read("big.bin")).body);
        assert.equal(got.length, 11 * MIB);
        assert.deepEqual(got.subarray(10 * MIB), chunks[10]);
        const range = await storage.read("big.bin", {
          range: { start: 5 * MIB - 2, end: 5 * MIB + 1 },
        });
        assert.deepEqual(await collectBytes(range.body), got.subarray(5 * MIB - 2, 5 * MIB + 2));
      } finally {
        await rig.empty(storage);
      }
    },
  );

  test(
    "S3Storage: multipart parts go up partsInFlight at once, the source read no further ahead",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      const counting = countingPartFetch(3);
      const storage = await rig.storage({
        partBytes: 5 * MIB,
        partsInFlight: 3,
        fetch: counting.fetch,
      });
      let mostAhead = 0;
      try {
        // Each pull is one part; the parts not yet answered are the ones held in memory.
        const { stream, state } = countedStream(5 * MIB, 6, (pulled) => {
          mostAhead = Math.max(mostAhead, pulled - counting.seen.answered);
        });
        const stat = await storage.write("parallel.bin", stream);
        assert.equal(counting.seen.most, 3, "the parts did not overlap");
        assert.equal(mostAhead, 3, `the source was read ${mostAhead} parts ahead`);
        assert.equal(stat.size, 30 * MIB);
        const got = await collectBytes((await storage.read("parallel.bin")).body);
        // Compared whole, not element by element: a diff of 30 MiB would not fit in memory.
        assert.ok(Buffer.concat(state.chunks).equals(got), "the bytes came back changed");
        assert.deepEqual(await openUploads(storage), []);
      } finally {
        counting.release();
        await rig.empty(storage);
      }
    },
  );

  test(
    "S3Storage: parts answered out of order are completed in part order, bytes in order",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      // Part 1 is held until part 4 has been answered: the parts finish out of order.
      let fourAnswered: () => void = () => {};
      const four = new Promise<void>((resolve) => (fourAnswered = resolve));
      const fallback = setTimeout(fourAnswered, 20_000);
      const answered: number[] = [];
      const storage = await rig.storage({
        partBytes: 5 * MIB,
        partsInFlight: 4,
        fetch: async (request) => {
          const number = partNumberOf(request);
          if (number === 1) await four;
          const response = await fetch(request);
          if (number !== undefined) answered.push(number);
          if (number === 4) fourAnswered();
          return response;
        },
      });
      try {
        // 3 MiB chunks: most parts are cut from two chunks.
        const chunks = Array.from(
          { length: 12 },
          (_, i) => patternBytes(3 * MIB).map((b) => b ^ i),
        );
        const stat = await storage.write("ordered.bin", streamOf(chunks));
        assert.equal(stat.size, 36 * MIB);
        assert.notEqual(answered[0], 1, `the parts were answered in order: ${answered}`);
        assert.deepEqual([...answered].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert.match((await storage.stat("ordered.bin")).identity ?? "", /-8"?$/);
        const got = await collectBytes((await storage.read("ordered.bin")).body);
        assert.ok(Buffer.concat(chunks).equals(got), "the bytes came back out of order");
      } finally {
        clearTimeout(fallback);
        fourAnswered();
        await rig.empty(storage);
      }
    },
  );

  test(
    "S3Storage: a part refused with a 403 aborts the whole upload, a 503 is retried",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      const asked = new Map<number, number>();
      const storage = await rig.storage({
        partBytes: 5 * MIB,
        partsInFlight: 3,
        fetch: (request) => {
          const number = partNumberOf(request);
          if (number === undefined) return fetch(request);
          const times = (asked.get(number) ?? 0) + 1;
          asked.set(number, times);
          if (number === 2 && times === 1) {
            return Promise.resolve(new Response("SlowDown", { status: 503 }));
          }
          if (number === 4) {
            return Promise.resolve(
              new Response("<Error><Code>AccessDenied</Code></Error>", {
                status: 403,
              }),
            );
          }
          return fetch(request);
        },
      });
      try {
        await storage.write("refused.bin", "old");
        const { stream, state } = countedStream(5 * MIB, 10, () => {});
        const error = await storage.write("refused.bin", stream).catch((e) => e);
        assert.ok(error instanceof StorageError, String(error));
        assert.match(error.message, /part 4\)?: HTTP 403 AccessDenied/);
        assert.equal(asked.get(2), 2, "the 503 on part 2 was not retried");
        assert.equal(asked.get(4), 1, "the 403 on part 4 was retried");
        assert.ok(state.pulled < 10, `the source was read to its end (${state.pulled} parts)`);
        assert.ok(state.cancelled, "the source was not cancelled");
        assert.equal(await text(storage, "refused.bin"), "old");
        assert.deepEqual(await openUploads(storage), []);
      } finally {
        await rig.empty(storage);
      }
    },
  );

  test("S3Storage: a reader never sees a partial multipart object", HEAVY, async () => {
    const rig = await s3Rig();
    const storage = await rig.storage({ partBytes: 5 * MIB });
    try {
      await storage.write("snapshot.bin", "old");
      const source = pausingStream(5 * MIB, 3, 2);
      const writing = storage.write("snapshot.bin", source.stream);
      await source.reachedPause;
      // Two parts are uploaded (or on their way): the key still holds the old object, whole.
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(await text(storage, "snapshot.bin"), "old");
        assert.equal((await storage.stat("snapshot.bin")).size, 3);
      }
      source.release();
      await writing;
      assert.equal((await storage.stat("snapshot.bin")).size, 15 * MIB);
    } finally {
      await rig.empty(storage);
    }
  });

  test(
    "S3Storage: a multipart write whose source fails is aborted, leaving no upload",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      const storage = await rig.storage({ partBytes: 5 * MIB });
      try {
        await storage.write("index.bin", "old");
        const source = pausingStream(5 * MIB, 4, 2);
        const writing = storage.write("index.bin", source.stream);
        await source.reachedPause;
        const cause = new TooLargeError("upstream", 10 * MIB);
        source.release(cause);
        assert.equal(await writing.catch((e) => e), cause);
        assert.equal(await text(storage, "index.bin"), "old");
        assert.deepEqual(await openUploads(storage), []);
      } finally {
        await rig.empty(storage);
      }
    },
  );

  test("S3Storage: an aborted multipart write is aborted on the server too", HEAVY, async () => {
    const rig = await s3Rig();
    const storage = await rig.storage({ partBytes: 5 * MIB });
    try {
      const controller = new AbortController();
      const source = pausingStream(5 * MIB, 4, 3);
      const writing = storage.write("aborted.bin", source.stream, { signal: controller.signal });
      await source.reachedPause;
      const reason = new Error("the caller gave up");
      controller.abort(reason);
      source.release();
      assert.equal(await writing.catch((e) => e), reason);
      assert.deepEqual(await openUploads(storage), []);
      assert.deepEqual(await Array.fromAsync(storage.list("")), []);
    } finally {
      await rig.empty(storage);
    }
  });

  test(
    "S3Storage: the upload of a writer killed with SIGKILL is swept, a live one is kept",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      const storage = await rig.storage({ partBytes: 5 * MIB });
      const prefix = storage.location.replace(`s3://${rig.bucket}/`, "");
      const script = fileURLToPath(new URL("./_s3_killed_writer.ts", import.meta.url));
      const argv = runtimeName() === "deno" ? ["run", "-A", script] : [script];
      const child = spawn(process.execPath, [...argv, rig.bucket, prefix], {
        env: { ...process.env, ...rig.env, HOME: rig.stateDir },
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        // The child says "parts" once two parts are up and then waits forever mid-upload.
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on(
            "data",
            (data: Buffer) => data.toString().includes("parts") && resolve(),
          );
          child.once("exit", (code) => reject(new Error(`the writer exited early (${code})`)));
        });
        // The upload is open once the parts reached the server (the source is read ahead).
        for (let i = 0; i < 300 && (await openUploads(storage)).length === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        child.kill("SIGKILL");
        await new Promise((resolve) => child.once("exit", resolve));
        assert.deepEqual(await openUploads(storage), [`${prefix}/killed.bin`]);
        // Uploads begun after `before` might be a live writer's: left alone.
        assert.deepEqual(await storage.sweepTempFiles({ before: new Date(0) }), []);
        assert.deepEqual(await openUploads(storage), [`${prefix}/killed.bin`]);
        assert.deepEqual(
          await storage.sweepTempFiles({ before: new Date(Date.now() + 60_000) }),
          ["killed.bin"],
        );
        assert.deepEqual(await openUploads(storage), []);
      } finally {
        child.kill("SIGKILL");
        await rig.empty(storage);
      }
    },
  );

  test(
    "Ceph pacific honours If-None-Match: * on PUT but not on CompleteMultipartUpload",
    HEAVY,
    async () => {
      // Why ifAbsent is always one PUT: a conditional multipart completion would overwrite.
      const rig = await s3Rig();
      const client = rawClient(rig.env);
      const url = `${rig.env.AWS_ENDPOINT_URL}/${rig.bucket}/inm-${Date.now()}`;
      try {
        assert.equal((await client.fetch(url, { method: "PUT", body: "first" })).status, 200);
        const conditional = await client.fetch(url, {
          method: "PUT",
          body: "second",
          headers: { "if-none-match": "*" },
        });
        assert.equal(conditional.status, 412);
        await conditional.body?.cancel();
        const created = await (await client.fetch(`${url}?uploads=`, { method: "POST" })).text();
        const id = /<UploadId>([^<]+)<\/UploadId>/.exec(created)![1]!;
        const part = await client.fetch(`${url}?partNumber=1&uploadId=${encodeURIComponent(id)}`, {
          method: "PUT",
          body: "multipart",
        });
        const etag = part.headers.get("etag")!;
        const completed = await client.fetch(`${url}?uploadId=${encodeURIComponent(id)}`, {
          method: "POST",
          headers: { "if-none-match": "*" },
          body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag>` +
            `</Part></CompleteMultipartUpload>`,
        });
        await completed.body?.cancel();
        assert.equal(await (await client.fetch(url)).text(), "multipart");
      } finally {
        await client.fetch(url, { method: "DELETE" });
      }
    },
  );

  test(
    "S3Storage: ifAbsent over the single-PUT cap is refused and writes nothing",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      const storage = await rig.storage({ partBytes: 5 * MIB, maxConditionalBytes: 6 * MIB });
      try {
        const chunks = Array.from({ length: 7 }, () => patternBytes(MIB));
        const error = await storage.write("lock", streamOf(chunks), { ifAbsent: true })
          .catch((e) => e);
        assert.ok(
          error instanceof StorageError && !(error instanceof AlreadyExistsError),
          String(error),
        );
        assert.match(error.message, /only if absent/);
        assert.deepEqual(await Array.fromAsync(storage.list("")), []);
        assert.deepEqual(await openUploads(storage), []);
      } finally {
        await rig.empty(storage);
      }
    },
  );

  test(
    "S3Storage: a conditional create whose answer was lost still succeeds on retry",
    HEAVY,
    async () => {
      const rig = await s3Rig();
      let lost = 0;
      const storage = await rig.storage({
        // The first PUT reaches the server, but its answer never reaches us.
        fetch: async (request) => {
          const response = await fetch(request);
          if (request.method === "PUT" && lost++ === 0) {
            await response.body?.cancel();
            throw new TypeError("connection reset by peer");
          }
          return response;
        },
      });
      try {
        await storage.write("lock", "holder 1", { ifAbsent: true });
        assert.equal(lost, 2);
        assert.equal(await text(storage, "lock"), "holder 1");
        // Someone else's object under the key is still AlreadyExistsError.
        await assert.rejects(
          storage.write("lock", "holder 2", { ifAbsent: true }),
          AlreadyExistsError,
        );
      } finally {
        await rig.empty(storage);
      }
    },
  );

  test("S3Storage: retries a 503 and gives up on a 403 at once", HEAVY, async () => {
    const rig = await s3Rig();
    const seen: string[] = [];
    let busy = 2;
    const flaky = await rig.storage({
      fetch: (request) => {
        seen.push(request.method);
        if (busy-- > 0) return Promise.resolve(new Response("SlowDown", { status: 503 }));
        return fetch(request);
      },
    });
    try {
      await flaky.write("a.json", "{}");
      assert.deepEqual(seen, ["PUT", "PUT", "PUT"]);
      const config = await loadS3Config({ ...rig.env, HOME: rig.stateDir });
      let asked = 0;
      const wrongKey = new S3Storage(
        { bucket: rig.bucket, prefix: "" },
        {
          config: { ...config, secretAccessKey: "not-the-secret" },
          fetch: (request) => (asked++, fetch(request)),
        },
      );
      const error = await wrongKey.stat("a.json").catch((e) => e);
      assert.ok(error instanceof StorageError, String(error));
      assert.match(error.message, /403/);
      assert.equal(asked, 1);
    } finally {
      await rig.empty(flaky);
    }
  });

  test(
    "S3Storage: a server that never answers fails each request within its deadline",
    HEAVY,
    async () => {
      const sockets: Socket[] = [];
      const silent = createServer((socket) => void sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const { port } = silent.address() as { port: number };
      try {
        const storage = new S3Storage({ bucket: "silent", prefix: "" }, {
          config: {
            endpoint: `http://127.0.0.1:${port}`,
            region: "us-east-1",
            accessKeyId: "a",
            secretAccessKey: "b",
            pathStyle: true,
          },
          headersTimeoutMs: 300,
          retries: 1,
          retryDelayMs: 10,
        });
        const error = await storage.stat("root.json").catch((e) => e);
        assert.ok(error instanceof DownloadError, String(error));
        assert.match(error.message, /no answer within 0\.3 s/);
        assert.equal(sockets.length, 2);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    },
  );

  test("S3Storage: HTTPS with the CA from AWS_CA_BUNDLE, refused without it", HEAVY, async () => {
    const rig = await s3Rig();
    const env = {
      ...rig.env,
      HOME: rig.stateDir,
      AWS_ENDPOINT_URL: rig.env.AWS_ENDPOINT_URL_HTTPS,
    };
    const prefix = `tls-${Date.now()}/`;
    const trusted = new S3Storage({ bucket: rig.bucket, prefix }, {
      config: await loadS3Config(env),
    });
    try {
      await trusted.write("a.json", "over TLS");
      assert.equal(await text(trusted, "a.json"), "over TLS");
      const withoutCa: Record<string, string | undefined> = { ...env, AWS_CA_BUNDLE: undefined };
      const untrusting = new S3Storage({ bucket: rig.bucket, prefix }, {
        config: await loadS3Config(withoutCa),
        retries: 0,
      });
      await assert.rejects(untrusting.stat("a.json"), DownloadError);
    } finally {
      await rig.empty(trusted);
    }
  });
}
