import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { grantOwner } from "../../../lib/writer/grant_owner.ts";
import { hashBytes } from "../../../lib/format/hash.ts";
import type { SigningKey } from "../../../lib/format/key_info.ts";
import { loadComponentManifest } from "../../../lib/trust/load_component_manifest.ts";
import type { ComponentManifest, RootManifest } from "../../../lib/format/manifest_types.ts";
import { normalizeManifest } from "../../../lib/format/normalize_manifest.ts";
import { planPublish } from "../../../lib/writer/plan_publish.ts";
import { loadRepositoryState } from "../../../lib/trust/load_verified_state.ts";
import { addDays, formatRfc3339 } from "../../../lib/format/rfc3339.ts";
import { createPublishApi } from "../../../lib/server/publish_api/create_publish_api.ts";
import { UploadSessions } from "../../../lib/server/publish_api/upload_sessions.ts";
import type { Storage } from "../../../lib/storage/storage.ts";
import { takeTestKeys } from "../../_keys.ts";
import { clientRefresh, day, makeMirror, readJson, tempDir, treeDigest } from "../../_simulator.ts";
import {
  goComponentJson,
  newSid,
  type Send,
  tiupPostComponent,
  tiupRotate,
  tiupSign,
  tiupUploadTarball,
} from "./_tiup_client.ts";

const BASE = "http://mirror.test";
const NOW = day(1);
const LIMIT = 64 * 1024;

let uploads: { dir: string; remove(): Promise<void> };
/** Every rig's sessions: closed (their file removals awaited) before the directory goes. */
const allSessions: UploadSessions[] = [];
before(async () => {
  uploads = await tempDir("ferry-uploads");
});
after(async () => {
  await Promise.all(allSessions.map((sessions) => sessions.close()));
  await uploads.remove();
});

interface Rig {
  storage: Storage;
  send: Send;
  alice: SigningKey;
  bob: SigningKey;
  root: SigningKey;
  sessions: UploadSessions;
  clock: { ms: number };
}

async function rig(options: { token?: string } = {}): Promise<Rig> {
  const { storage, keys } = await makeMirror();
  await grantOwner(storage, { id: "bob", name: "Bob", key: keys.bob.publicInfo }, { now: NOW });
  const clock = { ms: NOW.getTime() };
  const sessions = new UploadSessions(uploads.dir, { maxBytes: LIMIT, clock: () => clock.ms });
  allSessions.push(sessions);
  const app = createPublishApi(storage, {
    sessions,
    now: () => new Date(clock.ms),
    ...(options.token ? { token: options.token } : {}),
  });
  return {
    storage,
    send: async (request) => await app.fetch(request),
    alice: keys.alice,
    bob: keys.bob,
    root: keys.root,
    sessions,
    clock,
  };
}

/** The bytes of a "tarball" and the manifest TiUP's client would build for it. */
async function planned(
  storage: Storage,
  key: SigningKey,
  options: { component?: string; version?: string; text?: string } = {},
) {
  const bytes = new TextEncoder().encode(options.text ?? `tarball ${options.version ?? "v1.0.0"}`);
  const state = await loadRepositoryState(storage, { now: NOW });
  const component = options.component ?? "hello";
  const current = await loadComponentManifest(storage, state, component);
  const plan = planPublish(state, {
    component,
    version: options.version ?? "v1.0.0",
    platform: "linux/amd64",
    entry: "hello",
    tarball: { ...hashBytes(bytes), length: bytes.length, open: () => new Blob([bytes]).stream() },
  }, { ...(current ? { current: current.manifest.signed } : {}), keys: [key], now: NOW });
  const manifest = plan.change.components![0]!.manifest;
  return { bytes, manifest, filename: plan.tarballPath };
}

/** TiUP's publish: upload, then the signed manifest (new components send both flags). */
async function tiupPublish(
  r: Rig,
  key: SigningKey,
  manifest: ComponentManifest,
  upload: { filename: string; bytes: Uint8Array } | undefined,
  flags: { hidden?: boolean; standalone?: boolean; yanked?: boolean } = {},
) {
  const sid = newSid();
  if (upload) {
    const uploaded = await tiupUploadTarball(r.send, BASE, sid, upload.filename, upload.bytes);
    assert.ok(uploaded.status < 300, `upload answered ${uploaded.status}`);
  }
  const body = goComponentJson(manifest, tiupSign(manifest, [key]));
  return await tiupPostComponent(r.send, BASE, sid, manifest.id, body, flags);
}

describe("createPublishApi() with TiUP's client protocol", () => {
  it("publishes a new component: 204, the signer's owner, index flags, a verifying mirror", async () => {
    const r = await rig();
    const { bytes, manifest, filename } = await planned(r.storage, r.alice);
    const answer = await tiupPublish(r, r.alice, manifest, { filename, bytes }, {
      hidden: true,
      standalone: false,
    });
    assert.equal(answer.status, 204);
    const { result } = await clientRefresh(r.storage, NOW);
    const item = result.index.signed.components.hello!;
    assert.equal(item.owner, "alice");
    assert.equal(item.hidden, true);
    assert.deepEqual(
      (await readJson(r.storage, "1.hello.json")).signed.platforms["linux/amd64"]["v1.0.0"].url,
      "/hello-v1.0.0-linux-amd64.tar.gz",
    );
    const stored = await r.storage.read("hello-v1.0.0-linux-amd64.tar.gz");
    assert.equal(stored.stat.size, bytes.length);
  });

  it("publishes a second version of an existing component and modifies it without a tarball", async () => {
    const r = await rig();
    const first = await planned(r.storage, r.alice);
    assert.equal((await tiupPublish(r, r.alice, first.manifest, first)).status, 204);
    const second = await planned(r.storage, r.alice, { version: "v1.1.0" });
    assert.equal(second.manifest.version, 2);
    assert.equal((await tiupPublish(r, r.alice, second.manifest, second)).status, 204);
    // tiup mirror modify hello --yank: a new manifest version, no upload, the flag as query.
    const state = await loadRepositoryState(r.storage, { now: NOW });
    const current = (await loadComponentManifest(r.storage, state, "hello"))!.manifest.signed;
    const modified = normalizeManifest(current);
    modified.version += 1;
    const answer = await tiupPublish(r, r.alice, modified, undefined, { yanked: true });
    assert.equal(answer.status, 204);
    const { result } = await clientRefresh(r.storage, NOW);
    assert.equal(result.index.signed.components.hello!.yanked, true);
  });

  it("refuses a tampered manifest with 403 and commits nothing", async () => {
    const r = await rig();
    const { bytes, manifest, filename } = await planned(r.storage, r.alice);
    const sid = newSid();
    await tiupUploadTarball(r.send, BASE, sid, filename, bytes);
    const signatures = tiupSign(manifest, [r.alice]);
    const tampered = { ...manifest, description: "evil" };
    const before = await treeDigest(r.storage);
    const answer = await tiupPostComponent(
      r.send,
      BASE,
      sid,
      "hello",
      goComponentJson(tampered, signatures),
    );
    assert.equal(answer.status, 403);
    assert.equal(answer.json.status, "FORBIDDEN");
    assert.equal(typeof answer.json.message, "string");
    assert.match(answer.contentType ?? "", /^application\/json/);
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  it("refuses a publish signed by another owner's key with 403 and commits nothing", async () => {
    const r = await rig();
    const first = await planned(r.storage, r.alice);
    assert.equal((await tiupPublish(r, r.alice, first.manifest, first)).status, 204);
    const next = await planned(r.storage, r.alice, { version: "v2.0.0" });
    const before = await treeDigest(r.storage);
    const answer = await tiupPublish(r, r.bob, next.manifest, next);
    assert.equal(answer.status, 403);
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  it("refuses a new component signed by a key no owner holds with 403", async () => {
    const r = await rig();
    const [stranger] = takeTestKeys(1);
    const { bytes, manifest, filename } = await planned(r.storage, r.alice);
    const before = await treeDigest(r.storage);
    const answer = await tiupPublish(r, stranger!, manifest, { filename, bytes });
    assert.equal(answer.status, 403);
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  it("refuses a tarball whose sha256 differs from the manifest with 400 INVALID TARBALL", async () => {
    const r = await rig();
    const { manifest, filename, bytes } = await planned(r.storage, r.alice);
    const swapped = new Uint8Array(bytes);
    swapped[0] = swapped[0]! ^ 1;
    const before = await treeDigest(r.storage);
    const answer = await tiupPublish(r, r.alice, manifest, { filename, bytes: swapped });
    assert.equal(answer.status, 400);
    assert.equal(answer.json.status, "INVALID TARBALL");
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  for (const name of ["root", "index", "snapshot", "timestamp"]) {
    it(`refuses the reserved name "${name}" with 403`, async () => {
      const r = await rig();
      const { manifest } = await planned(r.storage, r.alice);
      const before = await treeDigest(r.storage);
      const answer = await tiupPostComponent(
        r.send,
        BASE,
        newSid(),
        name,
        goComponentJson({ ...manifest, id: name }, tiupSign({ ...manifest, id: name }, [r.alice])),
      );
      assert.equal(answer.status, 403);
      assert.deepEqual(await treeDigest(r.storage), before);
    });
  }

  it("refuses an oversized upload with 400 and keeps no session", async () => {
    const r = await rig();
    const { manifest, filename } = await planned(r.storage, r.alice);
    const sid = newSid();
    const big = new Uint8Array(LIMIT + 1);
    const uploaded = await tiupUploadTarball(r.send, BASE, sid, filename, big);
    assert.equal(uploaded.status, 400);
    assert.equal(uploaded.json.status, "INVALID TARBALL");
    assert.equal(r.sessions.get(sid), undefined);
    const before = await treeDigest(r.storage);
    const body = goComponentJson(manifest, tiupSign(manifest, [r.alice]));
    const answer = await tiupPostComponent(r.send, BASE, sid, "hello", body);
    assert.equal(answer.status, 404);
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  it("refuses a manifest whose session expired (600 s) with 404 SESSION NOT FOUND", async () => {
    const r = await rig();
    const { manifest, filename, bytes } = await planned(r.storage, r.alice);
    const sid = newSid();
    assert.equal((await tiupUploadTarball(r.send, BASE, sid, filename, bytes)).status, 204);
    r.clock.ms += 600_001;
    const before = await treeDigest(r.storage);
    const body = goComponentJson(manifest, tiupSign(manifest, [r.alice]));
    const answer = await tiupPostComponent(r.send, BASE, sid, "hello", body);
    assert.equal(answer.status, 404);
    assert.equal(answer.json.status, "SESSION NOT FOUND");
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  it("answers 409 to a manifest that is no longer the next version (a lost race)", async () => {
    const r = await rig();
    const a = await planned(r.storage, r.alice, { version: "v1.0.0" });
    const b = await planned(r.storage, r.alice, { version: "v1.1.0" });
    assert.equal((await tiupPublish(r, r.alice, a.manifest, a)).status, 204);
    const before = await treeDigest(r.storage);
    const answer = await tiupPublish(r, r.alice, b.manifest, b);
    assert.equal(answer.status, 409);
    assert.equal(answer.json.status, "MANIFEST CONFLICT");
    assert.deepEqual(await treeDigest(r.storage), before);
  });

  it("answers 400 INVALID MANIFEST to a body that is not a manifest", async () => {
    const r = await rig();
    const answer = await tiupPostComponent(r.send, BASE, newSid(), "hello", "{not json");
    assert.equal(answer.status, 400);
    assert.equal(answer.json.status, "INVALID MANIFEST");
  });

  it("rotates the root with a threshold of old and new root keys; 409 for a wrong version, 403 unsigned", async () => {
    const r = await rig();
    const current = (await readJson(r.storage, "root.json")).signed as RootManifest;
    const next: RootManifest = normalizeManifest({
      ...current,
      version: current.version + 1,
      expires: formatRfc3339(addDays(new Date(current.expires), 30)),
    });
    assert.equal((await tiupRotate(r.send, BASE, next, [])).status, 403);
    const skipped = { ...next, version: current.version + 2 };
    assert.equal(
      (await tiupRotate(r.send, BASE, skipped, tiupSign(skipped, [r.root]))).status,
      409,
    );
    const answer = await tiupRotate(r.send, BASE, next, tiupSign(next, [r.root]));
    assert.equal(answer.status, 204, JSON.stringify(answer.json));
    const state = await loadRepositoryState(r.storage, { now: NOW });
    assert.equal(state.root.manifest.signed.version, current.version + 1);
  });

  it("asks for the bearer token when one is set (401), and accepts it", async () => {
    const token = "a-long-enough-test-token";
    const r = await rig({ token });
    const { bytes, manifest, filename } = await planned(r.storage, r.alice);
    const refused = await tiupUploadTarball(r.send, BASE, newSid(), filename, bytes);
    assert.equal(refused.status, 401);
    const withToken: Send = (request) => {
      request.headers.set("authorization", `Bearer ${token}`);
      return r.send(request);
    };
    const sid = newSid();
    assert.equal((await tiupUploadTarball(withToken, BASE, sid, filename, bytes)).status, 204);
    const body = goComponentJson(manifest, tiupSign(manifest, [r.alice]));
    assert.equal((await tiupPostComponent(withToken, BASE, sid, "hello", body)).status, 204);
  });
});
