/**
 * Measures the server's memory while a publisher pushes one large tarball through
 * `ferry mirror serve DIR --publish` (upload, verify, commit): the peak RSS of the server process
 * (VmHWM from /proc) and its RSS sampled during the transfer, split into the process's own
 * memory (RssAnon: heap, buffers, what an upload can make grow) and the pages of the executable
 * it has touched (RssFile: the Bun runtime's and ferry's code, mapped from the binary, shared
 * with every other process that runs it and dropped by the kernel under memory pressure; a
 * compiled Bun program that only serves "hello" already has ~26 MiB of those). The tarball is a generated
 * stream (a repeated random 1 MiB block), hashed in one pass and uploaded in a second, so the
 * publisher holds no more than a block either.
 *
 *   deno run -A scripts/bench/publish_upload_rss.ts [SIZE_MB=2048] [deno|bun|PATH_TO_FERRY]
 *
 * A path (e.g. the compiled binary from FERRY_OUT=/tmp/ferry scripts/build_binary.sh) is run as
 * the server itself: that is the figure that matters, the one users run. BENCH_TRACE=1 prints
 * each RSS sample (seconds since the upload began, MiB) to stderr: upload, then the copy into
 * the mirror at the end.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { generateSigningKey } from "../../lib/format/generate_key.ts";
import { grantOwner } from "../../lib/writer/grant_owner.ts";
import { initRepository } from "../../lib/writer/init_repository.ts";
import { publishToHttpMirror } from "../../lib/remote_publish/publish_to_http_mirror.ts";
import { LocalStorage } from "../../lib/storage/local_storage.ts";

const sizeMb = Number(process.argv[2] ?? "2048");
const runtime = process.argv[3] ?? "deno";
const repo = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = await mkdtemp(nodePath.join(tmpdir(), "ferry-bench-upload-"));
const mirror = nodePath.join(dir, "mirror");
const block = randomFillSync(new Uint8Array(1024 * 1024));
const length = sizeMb * block.length;

function generated(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= sizeMb) return controller.close();
      sent++;
      controller.enqueue(block.slice());
    },
  });
}

interface Memory {
  rss: number;
  hwm: number;
  anon: number;
  file: number;
}

async function rssOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return {
    rss: kb("VmRSS") * 1024,
    hwm: kb("VmHWM") * 1024,
    anon: kb("RssAnon") * 1024,
    file: kb("RssFile") * 1024,
  };
}

const now = new Date();
await initRepository(new LocalStorage(mirror), { now });
const { key } = await generateSigningKey();
await grantOwner(new LocalStorage(mirror), { id: "bench", key: key.publicInfo }, { now });
const port = 20000 + Math.floor(Math.random() * 20000);
const compiled = runtime.includes("/");
const bin = compiled ? runtime : nodePath.join(repo, "node_modules", ".bin", runtime);
const args = compiled ? [] : [
  ...(runtime === "bun" ? ["run"] : ["run", "-A"]),
  nodePath.join(repo, "main.ts"),
];
const server = spawn(bin, [
  ...args,
  "mirror",
  "serve",
  mirror,
  "--publish",
  "--max-upload",
  `${sizeMb + 16}MiB`,
  "--access-log",
  "off",
  "--listen",
  `127.0.0.1:${port}`,
], { stdio: ["ignore", "pipe", "pipe"] });
try {
  await new Promise<void>((resolve, reject) => {
    let output = "";
    const seen = (chunk: Buffer) => {
      output += chunk;
      if (/Serving /.test(output)) resolve();
    };
    server.stdout!.on("data", seen);
    server.stderr!.on("data", seen);
    server.on("exit", () => reject(new Error(`the server exited: ${output}`)));
  });
  const idle = await rssOf(server.pid!);
  const sha256 = createHash("sha256");
  const sha512 = createHash("sha512");
  for await (const chunk of generated()) {
    sha256.update(chunk);
    sha512.update(chunk);
  }
  const peak = { rss: 0, anon: 0, file: 0 };
  const sampler = setInterval(() => {
    rssOf(server.pid!).then((m) => {
      peak.rss = Math.max(peak.rss, m.rss);
      peak.anon = Math.max(peak.anon, m.anon);
      peak.file = Math.max(peak.file, m.file);
      if (process.env.BENCH_TRACE) {
        const mb = (n: number) => (n / 1048576).toFixed(0);
        process.stderr.write(
          `${((performance.now() - started) / 1000).toFixed(1)}s rss ${mb(m.rss)} anon ${
            mb(m.anon)
          } file ${mb(m.file)}\n`,
        );
      }
    }, () => {});
  }, 100);
  const started = performance.now();
  await publishToHttpMirror(`http://127.0.0.1:${port}`, {
    component: "big",
    version: "v1.0.0",
    platform: "linux/amd64",
    entry: "big",
    tarball: {
      sha256: sha256.digest("hex"),
      sha512: sha512.digest("hex"),
      length,
      open: generated,
    },
  }, { key });
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  const end = await rssOf(server.pid!);
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  process.stdout.write(
    `${runtime}: published ${sizeMb} MiB in ${seconds.toFixed(1)} s; server RSS idle ${
      mib(idle.rss)
    } MiB (own ${mib(idle.anon)}, executable's pages ${mib(idle.file)}); sampled peak ${
      mib(peak.rss)
    } MiB (own ${mib(peak.anon)}, executable's pages ${mib(peak.file)}); VmHWM ${
      mib(end.hwm)
    } MiB\n`,
  );
} finally {
  server.kill("SIGTERM");
  await new Promise((resolve) => server.once("exit", resolve));
  await rm(dir, { recursive: true, force: true });
}
