import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { measureResponse, type ResponseMeasure } from "../../proxy/measure_response.ts";

describe("measureResponse()", () => {
  it("reports the bytes once the body has been read to the end, not before", async () => {
    const seen: ResponseMeasure[] = [];
    const response = measureResponse(new Response("0123456789"), (m) => seen.push(m));
    assert.deepEqual(seen, []);
    assert.equal(await response.text(), "0123456789");
    assert.deepEqual(seen, [{ bytes: 10, complete: true }]);
  });

  it("reports an incomplete answer when the client goes away", async () => {
    const seen: ResponseMeasure[] = [];
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(100)),
    });
    const response = measureResponse(new Response(endless), (m) => seen.push(m));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.complete, false);
  });

  it("reports an incomplete answer when the body breaks off", async () => {
    const seen: ResponseMeasure[] = [];
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(5));
        controller.error(new Error("reset"));
      },
    });
    const response = measureResponse(new Response(broken), (m) => seen.push(m));
    await assert.rejects(response.arrayBuffer());
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.complete, false);
  });

  it("reports an answer without a body at once", () => {
    const seen: ResponseMeasure[] = [];
    measureResponse(new Response(null, { status: 204 }), (m) => seen.push(m));
    assert.deepEqual(seen, [{ bytes: 0, complete: true }]);
  });
});
