/**
 * The publish API over a mirror directory whose upload directory lies inside it (what `ferry
 * mirror serve --publish` runs): a published upload becomes the mirror's tarball by a hard link,
 * so its bytes are written once, and an upload that changed after it was hashed is refused.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hashBytes } from "../../../lib/format/hash.ts";
import { verifyMirror } from "../../../lib/mirror/verify_mirror.ts";
import { createPublishApi } from "../../../lib/server/publish_api/create_publish_api.ts";
import { UploadSessions } from "../../../lib/server/publish_api/upload_sessions.ts";
import { LocalStorage } from "../../../lib/storage/local_storage.ts";
import { loadRepositoryState } from "../../../lib/trust/load_verified_state.ts";
import { planPublish } from "../../../lib/writer/plan_publish.ts";
import { day, makeMirror, type TestKeys, treeDigest } from "../../_simulator.ts";
import {
  goComponentJson,
  newSid,
  tiupPostComponent,
  tiupSign,
  tiupUploadTarball,
} from "./_tiup_client.ts";

const BASE = "http://mirror.test";
const NOW = day(1);
const UPLOADS = ".ferry-uploads";

interface Rig {
  dir: string;
  storage: LocalStorage;
  sessions: UploadSessions;
  keys: TestKeys;
  send: (request: Request) => Promise<Response>;
}

let rig: Rig | undefined;

beforeEach(async () => {
  const dir = await fs.mkdtemp(nodePath.join((await import("node:os")).tmpdir(), "ferry-link-"));
  const storage = new LocalStorage(dir);
  const { keys } = await makeMirror({ storage });
  const sessions = new UploadSessions(nodePath.join(dir, UPLOADS), {
    maxBytes: 1024 * 1024,
    within: { storage, path: UPLOADS },
  });
  const app = createPublishApi(storage, { sessions, now: () => NOW });
  rig = { dir, storage, sessions, keys, send: async (request) => await app.fetch(request) };
});

afterEach(async () => {
  await rig?.sessions.close();
  if (rig) await fs.rm(rig.dir, { recursive: true, force: true });
  rig = undefined;
});

/** Uploads `bytes` as hello v1.0.0 in a new session; returns what to post next. */
async function upload(r: Rig, bytes: Uint8Array<ArrayBuffer>) {
  const state = await loadRepositoryState(r.storage, { now: NOW });
  const plan = planPublish(state, {
    component: "hello",
    version: "v1.0.0",
    platform: "linux/amd64",
    entry: "hello",
    tarball: { ...hashBytes(bytes), length: bytes.length, open: () => new Blob([bytes]).stream() },
  }, { keys: [r.keys.alice], now: NOW });
  const manifest = plan.change.components![0]!.manifest;
  const sid = newSid();
  const uploaded = await tiupUploadTarball(r.send, BASE, sid, plan.tarballPath, bytes);
  assert.equal(uploaded.status, 204, JSON.stringify(uploaded.json));
  const body = goComponentJson(manifest, tiupSign(manifest, [r.keys.alice]));
  return { sid, body, tarballPath: plan.tarballPath, file: r.sessions.get(sid)!.file };
}

describe("the publish API with uploads inside the mirror's storage", () => {
  it("links a published upload into place: the tarball is the uploaded file, not a copy", async () => {
    const r = rig!;
    const bytes = new TextEncoder().encode("a tarball that is written once");
    const { sid, body, tarballPath, file } = await upload(r, bytes);
    const uploaded = await fs.stat(file);
    const answer = await tiupPostComponent(r.send, BASE, sid, "hello", body, { hidden: false });
    assert.equal(answer.status, 204, JSON.stringify(answer.json));
    const published = await fs.stat(nodePath.join(r.dir, tarballPath));
    assert.equal(published.ino, uploaded.ino, "the mirror's tarball is a second copy");
    // The commits/ copy is a link too, and the file is readable as every mirror file is.
    const commits = (await fs.readdir(nodePath.join(r.dir, "commits"))).sort();
    const logged = await fs.stat(nodePath.join(r.dir, "commits", commits.at(-1)!, tarballPath));
    assert.equal(logged.ino, uploaded.ino);
    assert.equal(published.mode & 0o777, 0o644);
    // The session's own name is gone; the bytes stay under the mirror's names.
    assert.deepEqual(await fs.readdir(nodePath.join(r.dir, UPLOADS)), []);
    const report = await verifyMirror(r.storage, { now: NOW });
    assert.ok(report.ok, JSON.stringify(report.problems));
    assert.equal(report.counts.tarballs, 1);
  });

  it("refuses an upload whose file was replaced after it was hashed, committing nothing", async () => {
    const r = rig!;
    const bytes = new TextEncoder().encode("the bytes the owner signed");
    const { sid, body, file } = await upload(r, bytes);
    const before = await treeDigest(r.storage);
    // Same length, other bytes: what the session hashed is not what is on disk any more.
    await fs.writeFile(`${file}.new`, new TextEncoder().encode("THE BYTES THE OWNER SIGNED"));
    await fs.rename(`${file}.new`, file);
    const answer = await tiupPostComponent(r.send, BASE, sid, "hello", body, { hidden: false });
    assert.equal(answer.status, 400, JSON.stringify(answer.json));
    assert.match(answer.json.message, /replaced or modified/);
    const after = await treeDigest(r.storage);
    for (const path of Object.keys(after)) {
      if (!path.startsWith(`${UPLOADS}/`)) assert.equal(after[path], before[path], path);
    }
  });
});
