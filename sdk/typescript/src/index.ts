/**
 * Rallypoint's TypeScript client SDK: the game-client protocol (proto/PROTOCOL.md section
 * 1) for browsers and Node. `Client.connect` opens a connection; the message types are
 * generated from the protocol's JSON Schema (`protocol.ts`).
 *
 * The game-server side (the server pool's API and join tokens) is `@rallypoint/sdk/game-server`.
 */
export { Client, CLOSE_SESSION_REPLACED, REPLY_TYPE } from "./client.js";
export type { Auth, ClientOptions, ReplyTo } from "./client.js";
export type { ClientEvent, EventName, ListenerOf, Push } from "./events.js";
export { backoffDelay } from "./backoff.js";
export type { ReconnectOptions } from "./backoff.js";
export { MAX_BODY_BYTES, SUBPROTOCOL, decodeFrame, encodeFrame } from "./codec.js";
export type { Encoding } from "./codec.js";
export {
  ClosedError,
  ConnectError,
  DisconnectedError,
  EncodeError,
  RallypointError,
  RequestError,
  TimeoutError,
} from "./errors.js";
export type { WebSocketConstructor, WebSocketLike } from "./socket.js";
export type * from "./protocol.js";
