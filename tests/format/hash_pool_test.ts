import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HashPool } from "../../lib/format/hash_pool.ts";

function expected(chunks: Uint8Array[]) {
  const sha256 = createHash("sha256");
  const sha512 = createHash("sha512");
  for (const chunk of chunks) {
    sha256.update(chunk);
    sha512.update(chunk);
  }
  return { sha256: sha256.digest("hex"), sha512: sha512.digest("hex") };
}

/** Chunks of odd sizes around the pool's 1 MiB batches, so batch boundaries fall mid-chunk. */
function chunksOf(total: number, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let made = 0, i = 0; made < total; i++) {
    const size = Math.min(total - made, 1 + ((seed * 7919 + i * 104729) % (300 * 1024)));
    out.push(new Uint8Array(randomBytes(size)));
    made += size;
  }
  return out;
}

for (const workers of [0, 1, 2]) {
  test(`HashPool with ${workers} workers gives node:crypto's digests for interleaved streams`, async () => {
    const pool = new HashPool({ workers });
    try {
      // Six streams at once, one of them empty and one larger than the pool's 8 MiB backlog,
      // fed round-robin like concurrent downloads.
      const streams = [0, 1, 1000, 3 * 1024 * 1024 + 17, 5 * 1024 * 1024, 20 * 1024 * 1024].map(
        (size, i) => ({ chunks: chunksOf(size, i + 1), hasher: pool.hasher(), next: 0 }),
      );
      let fed = true;
      while (fed) {
        fed = false;
        for (const stream of streams) {
          const chunk = stream.chunks[stream.next++];
          if (!chunk) continue;
          fed = true;
          await stream.hasher.update(chunk);
        }
      }
      const digests = await Promise.all(streams.map((s) => s.hasher.digest()));
      digests.forEach((digest, i) => assert.deepEqual(digest, expected(streams[i]!.chunks)));
    } finally {
      pool.close();
    }
  });
}

test("HashPool hashers asked for SHA-256 only give SHA-256 only (hashed in line)", async () => {
  const pool = new HashPool({ workers: 1 });
  try {
    const chunks = chunksOf(2 * 1024 * 1024 + 3, 4);
    for (
      const hasher of [
        pool.hasher({ sha512: false }),
        new HashPool({ workers: 0 }).hasher({ sha512: false }),
      ]
    ) {
      for (const chunk of chunks) await hasher.update(chunk);
      assert.deepEqual(await hasher.digest(), { sha256: expected(chunks).sha256 });
    }
  } finally {
    pool.close();
  }
});

test("HashPool.close() rejects the digests still owed, and later hashers run in line", async () => {
  const pool = new HashPool({ workers: 1 });
  const hasher = pool.hasher();
  await hasher.update(new Uint8Array(2 * 1024 * 1024));
  pool.close();
  await assert.rejects(hasher.digest());
  const late = pool.hasher();
  await late.update(new Uint8Array([1, 2, 3]));
  assert.deepEqual(await late.digest(), expected([new Uint8Array([1, 2, 3])]));
});

test("HashPool hashers abandoned mid-stream leave the others correct", async () => {
  const pool = new HashPool({ workers: 1 });
  try {
    const dropped = pool.hasher();
    const kept = pool.hasher();
    const chunks = chunksOf(3 * 1024 * 1024, 9);
    for (const chunk of chunks) {
      await dropped.update(chunk);
      await kept.update(chunk);
    }
    dropped.abort();
    assert.deepEqual(await kept.digest(), expected(chunks));
  } finally {
    pool.close();
  }
});

for (const workers of [0, 2]) {
  test(`HashPool.hashFile with ${workers} workers gives node:crypto's digests of whole files`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "ferry-hash-file-"));
    const pool = new HashPool({ workers });
    try {
      const files = [0, 1, 4 * 1024 * 1024, 9 * 1024 * 1024 + 3].map((size, i) => ({
        path: join(dir, `f${i}`),
        bytes: new Uint8Array(randomBytes(size)),
      }));
      for (const file of files) await writeFile(file.path, file.bytes);
      const digests = await Promise.all(files.map((file) => pool.hashFile(file.path)));
      digests.forEach((digest, i) => {
        const bytes = files[i]!.bytes;
        assert.equal(digest.sha256, createHash("sha256").update(bytes).digest("hex"));
        assert.equal(digest.sha512, createHash("sha512").update(bytes).digest("hex"));
      });
      const only256 = await pool.hashFile(files[2]!.path, { sha512: false });
      assert.equal(only256.sha512, undefined);
      assert.equal(only256.sha256, digests[2]!.sha256);
      await assert.rejects(pool.hashFile(join(dir, "missing")), /ENOENT|no such file/i);
    } finally {
      pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
