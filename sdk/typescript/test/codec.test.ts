// Frames in both encodings, and frames that are not protocol messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";

import { backoffDelay, decodeFrame, encodeFrame } from "../src/index.js";

test("a request encodes as JSON text or MessagePack bytes with the same fields", () => {
  const request = { type: "room.send", room: "lobby:main", body: { text: "hi" }, rid: 7 };
  assert.deepEqual(JSON.parse(encodeFrame(request, "json") as string), request);
  const bytes = encodeFrame(request, "msgpack");
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(decodeFrame(bytes), request);
});

test("a gateway frame decodes from text, an ArrayBuffer or a Buffer", () => {
  const message = { type: "pong", rid: 1 };
  assert.deepEqual(decodeFrame(JSON.stringify(message)), message);
  const packed = encode(message);
  assert.deepEqual(decodeFrame(packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength)), message);
  assert.deepEqual(decodeFrame(Buffer.from(packed)), message);
});

test("what is not a protocol message is skipped, never thrown", () => {
  for (const frame of ["", "{", "[]", "42", JSON.stringify({ no: "type" }), JSON.stringify({ type: 5 }), new Uint8Array([0xc1]), 12]) {
    assert.equal(decodeFrame(frame), undefined);
  }
});

test("reconnect pauses grow, stay under their cap, and are jittered", () => {
  const options = { initialMs: 200, maxMs: 5_000 };
  assert.equal(backoffDelay(0, options, () => 0.999999), 199);
  assert.equal(backoffDelay(3, options, () => 0.5), 800);
  assert.equal(backoffDelay(20, options, () => 0.999999), 4_999);
  assert.equal(backoffDelay(5, options, () => 0), 0);
  const pauses = new Set(Array.from({ length: 20 }, () => backoffDelay(4, options)));
  assert.ok(pauses.size > 1, "random pauses differ");
});
