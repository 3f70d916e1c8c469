/**
 * `ferry mirror serve` answers hot manifests from memory: what a publish (a rename over the
 * file), a delete or a planted link to a private key does to a file the server holds must show
 * in what it serves, and the key must never be served on the way. The server sees the change
 * through its directory watch or, at the latest, at its revalidation interval; the test polls
 * (bounded) rather than timing either.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { test } from "node:test";
import { freePort, makeTempDir, startFerry } from "./_cli.ts";

const OLD = '{"signed":{"_type":"snapshot","version":1}}';
const NEW = '{"signed":{"_type":"snapshot","version":2}}';
const SECRET = '{"PRIVATE KEY":"do-not-serve-this-one"}'.padEnd(OLD.length, "!");
const MTIME = new Date(1_700_000_000_000);

/** Same size and mtime as the file they replace: only what the file is tells them apart. */
const CHANGES: Array<[string, (dir: string) => Promise<void>, number, string?]> = [
  [
    "renamed over",
    async (dir) => {
      const temp = nodePath.join(dir, ".ferry-tmp-0123456789abcdef");
      await fs.writeFile(temp, NEW);
      await fs.utimes(temp, MTIME, MTIME);
      await fs.rename(temp, nodePath.join(dir, "snapshot.json"));
    },
    200,
    NEW,
  ],
  ["swapped for a link to a private key", async (dir) => {
    await fs.symlink("keys/abc-root.json", nodePath.join(dir, ".ferry-tmp-link"));
    await fs.rename(nodePath.join(dir, ".ferry-tmp-link"), nodePath.join(dir, "snapshot.json"));
  }, 404],
  ["deleted", (dir) => fs.rm(nodePath.join(dir, "snapshot.json")), 404],
];

for (const [what, change, status, body] of CHANGES) {
  test(`ferry mirror serve: a hot manifest ${what} is served as it is now, never the key`, {
    timeout: 120_000,
  }, async () => {
    const temp = await makeTempDir();
    const dir = nodePath.join(temp.dir, "mirror");
    await fs.mkdir(nodePath.join(dir, "keys"), { recursive: true });
    for (const [name, text] of [["snapshot.json", OLD], ["keys/abc-root.json", SECRET]]) {
      await fs.writeFile(nodePath.join(dir, name!), text!);
      await fs.utimes(nodePath.join(dir, name!), MTIME, MTIME);
    }
    const port = await freePort();
    const server = await startFerry(
      ["mirror", "serve", dir, "--listen", `127.0.0.1:${port}`, "--access-log", "off"],
      { readyPattern: /Serving .* at / },
    );
    try {
      const url = `http://127.0.0.1:${port}/snapshot.json`;
      for (let i = 0; i < 3; i++) assert.equal(await (await fetch(url)).text(), OLD);
      await change(dir);
      // Until the server notices, the old (public) answer; then the new one. A hang guard
      // bounds the wait: the server revalidates every second even without a notification.
      const deadline = Date.now() + 30_000;
      while (true) {
        const response = await fetch(url);
        const text = await response.text();
        assert.ok(!text.includes("PRIVATE KEY"), "served the private key");
        if (response.status === status && (body === undefined || text === body)) break;
        assert.equal(text, OLD, `neither the old answer nor the new one (${response.status})`);
        assert.ok(Date.now() < deadline, "the change was never seen");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const again = await fetch(url);
      assert.equal(again.status, status);
      assert.ok(!(await again.text()).includes("PRIVATE KEY"));
    } finally {
      await server.stop();
      await temp.remove();
    }
  });
}
