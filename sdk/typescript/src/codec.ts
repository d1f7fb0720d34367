/**
 * The two encodings of PROTOCOL.md section 1, chosen by the WebSocket subprotocol:
 * `rallypoint.v1.json` (text frames) and `rallypoint.v1.msgpack` (binary frames, the same
 * field names), and the size limit a body must keep.
 */
import { decode as decodeMsgpack, encode as encodeMsgpack } from "@msgpack/msgpack";

import type { ServerMessage } from "./protocol.js";

/** How frames are encoded on the connection. */
export type Encoding = "json" | "msgpack";

/** The subprotocol that selects each encoding. */
export const SUBPROTOCOL: Record<Encoding, string> = {
  json: "rallypoint.v1.json",
  msgpack: "rallypoint.v1.msgpack",
};

/** Largest `body` the gateway accepts, in bytes of its JSON encoding. */
export const MAX_BODY_BYTES = 4096;

const textEncoder = new TextEncoder();

/** The size of `value` encoded as JSON, in bytes. */
export function jsonSize(value: unknown): number {
  return textEncoder.encode(JSON.stringify(value) ?? "").length;
}

/** One request frame: a string (JSON) or bytes (MessagePack). */
export function encodeFrame(message: object, encoding: Encoding): string | Uint8Array {
  return encoding === "json" ? JSON.stringify(message) : encodeMsgpack(message);
}

/**
 * Decodes a frame from the gateway; `undefined` for a frame that is not a protocol
 * message (the caller skips it).
 */
export function decodeFrame(data: unknown): ServerMessage | undefined {
  let value: unknown;
  try {
    if (typeof data === "string") {
      value = JSON.parse(data);
    } else if (data instanceof ArrayBuffer) {
      value = decodeMsgpack(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      value = decodeMsgpack(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else {
      return undefined;
    }
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") {
    return undefined;
  }
  return value as ServerMessage;
}
