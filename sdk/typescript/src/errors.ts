/**
 * Why a call failed. Every error the SDK rejects a promise with is a `RallypointError`;
 * its subclasses say which kind, and a gateway's `error` reply carries its protocol code.
 */
import type { ErrorCode, Rid } from "./protocol.js";

/** The base class of the SDK's errors. */
export class RallypointError extends Error {
  override name = "RallypointError";
}

/** The gateway answered the request with `error` (PROTOCOL.md, "Errors"). */
export class RequestError extends RallypointError {
  override name = "RequestError";
  constructor(
    /** The protocol's error code, e.g. `not_online`, `rate_limited`, `muted`. */
    readonly code: ErrorCode,
    message: string,
    /** The request's `rid`. */
    readonly rid?: Rid,
  ) {
    super(`${code}: ${message}`);
  }
}

/** No reply came within `requestTimeoutMs`; the request may or may not have been carried out. */
export class TimeoutError extends RallypointError {
  override name = "TimeoutError";
  constructor(readonly timeoutMs: number) {
    super(`no reply within ${timeoutMs} ms`);
  }
}

/**
 * The connection dropped before the reply came, or the client is reconnecting: the
 * request may or may not have been carried out (ask, e.g. `queueStatus()`, then retry).
 */
export class DisconnectedError extends RallypointError {
  override name = "DisconnectedError";
  constructor(message = "the connection dropped before the reply") {
    super(message);
  }
}

/** The client was closed (by the game, or its session was replaced: close code 4001). */
export class ClosedError extends RallypointError {
  override name = "ClosedError";
  constructor(message = "the client is closed") {
    super(message);
  }
}

/** No gateway could be reached, or every one refused the connection. */
export class ConnectError extends RallypointError {
  override name = "ConnectError";
  constructor(
    message: string,
    /** The close code, when the gateway closed the socket before `welcome`. */
    readonly closeCode?: number,
  ) {
    super(message);
  }
}

/** A request could not be encoded (e.g. a body over 4 KiB). */
export class EncodeError extends RallypointError {
  override name = "EncodeError";
}
