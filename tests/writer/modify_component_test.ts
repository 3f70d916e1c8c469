import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { modifyComponent } from "../../lib/writer/modify_component.ts";
import { publishComponent } from "../../lib/writer/publish_component.ts";
import { loadRepositoryState } from "../../lib/trust/load_verified_state.ts";
import type { Storage } from "../../lib/storage/storage.ts";
import {
  clientRefresh,
  day,
  helloPackage,
  makeMirror,
  readJson,
  treeDigest,
} from "../_simulator.ts";

async function mirrorWithHello() {
  const { storage, keys } = await makeMirror();
  await publishComponent(storage, helloPackage({ hidden: true }), { key: keys.alice, now: day(1) });
  await publishComponent(storage, helloPackage({ platform: "darwin/arm64" }), {
    key: keys.alice,
    now: day(1),
  });
  await publishComponent(storage, helloPackage({ version: "v1.1.0-nightly" }), {
    key: keys.alice,
    now: day(1),
  });
  return { storage, keys };
}

async function current(storage: Storage) {
  const state = await loadRepositoryState(storage);
  const version = state.snapshot.manifest.signed.meta["/hello.json"]!.version;
  return {
    manifest: (await readJson(storage, `${version}.hello.json`)).signed,
    index: state.index.manifest.signed,
  };
}

describe("modifyComponent()", () => {
  it("changes only the index flags that are given and bumps the component version", async () => {
    const { storage, keys } = await mirrorWithHello();
    const before = await current(storage);
    assert.equal(before.index.components.hello?.hidden, true);
    await modifyComponent(storage, { component: "hello", standalone: true }, {
      key: keys.alice,
      now: day(2),
    });
    const after = await current(storage);
    assert.deepEqual(after.index.components.hello, {
      ...before.index.components.hello,
      standalone: true,
    });
    assert.equal(after.index.version, before.index.version + 1);
    assert.equal(after.manifest.version, before.manifest.version + 1);
    await clientRefresh(storage, day(2));
  });

  it("un-hides with hidden: false (TiUP's --hide=false)", async () => {
    const { storage, keys } = await mirrorWithHello();
    await modifyComponent(storage, { component: "hello", hidden: false }, {
      key: keys.alice,
      now: day(2),
    });
    assert.equal((await current(storage)).index.components.hello?.hidden, false);
  });

  it("updates the description without touching the index", async () => {
    const { storage, keys } = await mirrorWithHello();
    const indexBefore = (await current(storage)).index.version;
    const result = await modifyComponent(storage, { component: "hello", description: "Hi" }, {
      key: keys.alice,
      now: day(2),
    });
    assert.ok(!result.files.some((f) => f.endsWith("index.json")));
    const after = await current(storage);
    assert.equal(after.manifest.description, "Hi");
    assert.equal(after.index.version, indexBefore);
  });

  it("yanks comp:ver on every platform that has it", async () => {
    const { storage, keys } = await mirrorWithHello();
    await modifyComponent(storage, { component: "hello", version: "v1.0.0", yanked: true }, {
      key: keys.alice,
      now: day(2),
    });
    const { manifest, index } = await current(storage);
    assert.equal(manifest.platforms["linux/amd64"]["v1.0.0"].yanked, true);
    assert.equal(manifest.platforms["darwin/arm64"]["v1.0.0"].yanked, true);
    assert.equal(manifest.platforms["linux/amd64"]["v1.1.0-nightly"].yanked, false);
    assert.equal(index.components.hello?.yanked, false);
  });

  it("extends the component expiry and never shortens it", async () => {
    const { storage, keys } = await mirrorWithHello();
    const before = (await current(storage)).manifest.expires;
    await modifyComponent(storage, { component: "hello", description: "x" }, {
      key: keys.alice,
      now: day(2),
      componentDays: 1,
    });
    assert.equal((await current(storage)).manifest.expires, before);
  });

  const refusals: Array<[string, Parameters<typeof modifyComponent>[1], RegExp]> = [
    [
      "yanking a nightly",
      { component: "hello", version: "v1.1.0-nightly", yanked: true },
      /nightly versions cannot be yanked/,
    ],
    [
      "yanking a version no platform has",
      { component: "hello", version: "v9.9.9", yanked: true },
      /no platform has that version/,
    ],
    [
      "--hide with comp:ver",
      { component: "hello", version: "v1.0.0", hidden: true },
      /without a version/,
    ],
    ["an unknown component", { component: "nope", hidden: true }, /no such component/],
  ];
  for (const [what, request, message] of refusals) {
    it(`refuses ${what} and leaves the mirror as it was`, async () => {
      const { storage, keys } = await mirrorWithHello();
      const before = await treeDigest(storage);
      await assert.rejects(
        modifyComponent(storage, request, { key: keys.alice, now: day(2) }),
        (error: Error) => error instanceof UsageError && message.test(error.message),
      );
      assert.deepEqual(await treeDigest(storage), before);
    });
  }

  it("refuses a key that is not the owner's (attack: another owner yanks my component)", async () => {
    const { storage, keys } = await mirrorWithHello();
    const { grantOwner } = await import("../../lib/writer/grant_owner.ts");
    await grantOwner(storage, { id: "bob", key: keys.bob.publicInfo }, { now: day(1) });
    const before = await treeDigest(storage);
    await assert.rejects(
      modifyComponent(storage, { component: "hello", yanked: true }, {
        key: keys.bob,
        now: day(2),
      }),
      /not a key of the component's owner "alice"/,
    );
    assert.deepEqual(await treeDigest(storage), before);
  });
});
