/**
 * The game client: one WebSocket to a gateway (PROTOCOL.md section 1), typed requests
 * whose promises the reply with the same `rid` settles, pushes as events, pings on
 * `welcome.heartbeat_ms`, and reconnection (backoff with jitter, across the gateway URLs,
 * honouring `reconnect.after_ms`, never after close code 4001) that restores what the
 * protocol lets a client restore: its rooms, with `since` in rooms that keep history, and
 * where its queue ticket stands (`queue.status`).
 *
 * ```ts
 * const client = await Client.connect({ urls: ["ws://127.0.0.1:8080/ws"], auth: { guest: "alice" } });
 * client.on("match.found", (found) => console.log(found.server.address, found.join_token));
 * await client.joinQueue("duel", "eu");
 * ```
 */
import { backoffDelay, type ReconnectOptions } from "./backoff.js";
import { type Encoding, MAX_BODY_BYTES, SUBPROTOCOL, decodeFrame, encodeFrame, jsonSize } from "./codec.js";
import {
  ClosedError,
  ConnectError,
  DisconnectedError,
  EncodeError,
  RequestError,
  TimeoutError,
} from "./errors.js";
import { type ClientEvent, EventHub, type EventName, type ListenerOf, type Push } from "./events.js";
import type { ClientRequest, ServerMessage } from "./protocol.js";
import { sleep } from "./retry.js";
import { type WebSocketConstructor, type WebSocketLike, resolveWebSocket } from "./socket.js";

/** Close code: the same player connected again elsewhere; never reconnect after it. */
export const CLOSE_SESSION_REPLACED = 4001;

/** The reply each request gets (PROTOCOL.md section 1, "Client -> server"). */
export const REPLY_TYPE = {
  ping: "pong",
  "queue.join": "queue.joined",
  "queue.leave": "queue.left",
  "queue.status": "queue.status",
  "room.join": "room.joined",
  "room.history": "room.history",
  "room.leave": "room.left",
  "room.members": "room.members",
  "presence.get": "presence",
  block: "blocked",
  unblock: "unblocked",
  "room.send": "room.sent",
  whisper: "whisper.sent",
  "profile.get": "profile",
  "data.get": "data",
  "party.create": "party",
  "party.invite": "party.invited",
  "party.accept": "party",
  "party.decline": "party.declined",
  "party.leave": "party.left",
  "party.kick": "party",
  "party.promote": "party",
  "party.get": "party",
  "match.accept": "match.ready_update",
  "match.decline": "match.ready_update",
} as const satisfies Record<ClientRequest["type"], ServerMessage["type"]>;

/** The reply to a request of type `T`. */
export type ReplyTo<T extends ClientRequest["type"]> = Push<(typeof REPLY_TYPE)[T]>;

/** A request of type `T`, without its `type`. */
type Fields<T extends ClientRequest["type"]> = Omit<Extract<ClientRequest, { type: T }>, "type">;

/** How the client proves who it is. */
export type Auth =
  /** A JWT (HS256, `sub` = the player id); sent as `?token=` (browsers cannot set headers) or, with `ws`, as a header. */
  | { token: string }
  /** A guest name: the player is `guest:<name>`, where the deployment allows guests (the local stack does). */
  | { guest: string };

/** A client's settings; only `urls` and `auth` are required. */
export interface ClientOptions {
  /** Gateway WebSocket URLs (`ws://host:8080/ws`); a reconnect goes to the next one. */
  urls: string[];
  auth: Auth;
  /** JSON text frames (default) or MessagePack binary frames. */
  encoding?: Encoding;
  /** How long a request waits for its reply, and a connection for `welcome` (10,000 ms). */
  requestTimeoutMs?: number;
  /** How reconnecting is paced; `false`: never reconnect. */
  reconnect?: ReconnectOptions | false;
  /** The ping interval (default: the gateway's `welcome.heartbeat_ms`). */
  pingIntervalMs?: number;
  /**
   * The WebSocket implementation: the browser's by default; in Node 20 the `ws` package
   * (found by itself when installed, or pass it: `import WebSocket from "ws"`).
   */
  WebSocket?: WebSocketConstructor;
  /** Random numbers in [0, 1) for the reconnect jitter (tests pin it). */
  random?: () => number;
}

interface Waiter {
  resolve: (message: ServerMessage) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

type Resolved = Required<Omit<ClientOptions, "reconnect" | "pingIntervalMs" | "WebSocket">> & {
  reconnect: Required<Omit<ReconnectOptions, "attempts">> & { attempts?: number; enabled: boolean };
  pingIntervalMs?: number;
};

/** A connected client. Requests made while it reconnects fail at once with `DisconnectedError`. */
export class Client {
  /** The latest `welcome` (a reconnect replaces it). */
  welcome: Push<"welcome">;
  private socket?: WebSocketLike;
  private readonly hub = new EventHub();
  private readonly waiting = new Map<string, Waiter>();
  /** Rooms joined, with the latest offset seen in each (rooms that keep history). */
  private readonly rooms = new Map<string, number | undefined>();
  private nextRid = 1;
  private urlIndex: number;
  private pingTimer?: ReturnType<typeof setInterval>;
  private closed = false;
  private reconnecting = false;

  private constructor(
    private readonly options: Resolved,
    private readonly WebSocketImpl: WebSocketConstructor,
    opened: Opened,
  ) {
    this.welcome = opened.welcome;
    this.urlIndex = opened.urlIndex;
    this.attach(opened.socket);
  }

  /** Connects to the first gateway of `options.urls` that answers, and reads `welcome`. */
  static async connect(options: ClientOptions): Promise<Client> {
    if (options.urls.length === 0) throw new ConnectError("no gateway URL given");
    const resolved: Resolved = {
      urls: options.urls,
      auth: options.auth,
      encoding: options.encoding ?? "json",
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      pingIntervalMs: options.pingIntervalMs,
      random: options.random ?? Math.random,
      reconnect: {
        enabled: options.reconnect !== false,
        initialMs: (options.reconnect || {}).initialMs ?? 200,
        maxMs: (options.reconnect || {}).maxMs ?? 5_000,
        attempts: (options.reconnect || {}).attempts,
      },
    };
    const WebSocketImpl = await resolveWebSocket(options.WebSocket);
    let last: Error = new ConnectError("no gateway answered");
    for (let index = 0; index < resolved.urls.length; index++) {
      try {
        const opened = await open(WebSocketImpl, resolved, index);
        return new Client(resolved, WebSocketImpl, opened);
      } catch (error) {
        last = error as Error;
      }
    }
    throw last;
  }

  /** The player id the gateway gave this connection (`guest:<name>` for a guest). */
  get player(): string {
    return this.welcome.player;
  }

  /** Whether a socket is open now (false while reconnecting and once closed). */
  get connected(): boolean {
    return this.socket !== undefined;
  }

  // ---- events ----

  /**
   * Calls `listener` for each push of one type (`"match.found"`), every push (`"push"`),
   * or a lifecycle event (`"disconnected"`, `"reconnected"`, `"closed"`). Returns a
   * function that stops it.
   */
  on<N extends EventName>(name: N, listener: ListenerOf<N>): () => void {
    return this.hub.on(name, listener);
  }

  /** Every event from now on, as an async iterator (`for await (const e of client.events())`). */
  events(): AsyncIterableIterator<ClientEvent> {
    return this.hub.iterate();
  }

  /** The next push of type `type` (optionally one `accept` agrees to), within `timeoutMs`. */
  nextPush<T extends ServerMessage["type"]>(
    type: T,
    accept: (message: Push<T>) => boolean = () => true,
    timeoutMs = this.options.requestTimeoutMs,
  ): Promise<Push<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new TimeoutError(timeoutMs));
      }, timeoutMs);
      const stop = this.on(type, ((message: Push<T>) => {
        if (!accept(message)) return;
        clearTimeout(timer);
        stop();
        resolve(message);
      }) as ListenerOf<T>);
    });
  }

  // ---- requests ----

  /**
   * Sends a request and resolves with its reply (the message with the same `rid`);
   * rejects with `RequestError` on an `error` reply, `TimeoutError`, `DisconnectedError`
   * or `ClosedError`.
   */
  request<T extends ClientRequest["type"]>(request: Extract<ClientRequest, { type: T }>): Promise<ReplyTo<T>> {
    if (this.closed) return Promise.reject(new ClosedError());
    const socket = this.socket;
    if (!socket) return Promise.reject(new DisconnectedError("reconnecting: try again once reconnected"));
    const body = (request as { body?: unknown }).body;
    if (body !== undefined && jsonSize(body) > MAX_BODY_BYTES) {
      return Promise.reject(new EncodeError(`body is larger than ${MAX_BODY_BYTES} bytes encoded as JSON`));
    }
    this.noteRooms(request);
    const rid = this.nextRid++;
    return new Promise<ReplyTo<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(String(rid));
        reject(new TimeoutError(this.options.requestTimeoutMs));
      }, this.options.requestTimeoutMs);
      this.waiting.set(String(rid), {
        resolve: resolve as (message: ServerMessage) => void,
        reject,
        timer,
      });
      try {
        socket.send(encodeFrame({ ...request, rid }, this.options.encoding));
      } catch (error) {
        clearTimeout(timer);
        this.waiting.delete(String(rid));
        reject(new DisconnectedError(`sending failed: ${(error as Error).message}`));
      }
    });
  }

  /** `ping` → `pong`. */
  ping(): Promise<ReplyTo<"ping">> {
    return this.request({ type: "ping" });
  }

  /** Queues for `queue` in `region` (a party's leader queues the party); resolves with the ticket. */
  joinQueue(queue: string, region: string): Promise<ReplyTo<"queue.join">> {
    return this.request({ type: "queue.join", queue, region });
  }

  leaveQueue(): Promise<ReplyTo<"queue.leave">> {
    return this.request({ type: "queue.leave" });
  }

  /** Where the ticket stands: `idle`, `searching` or `matched`. */
  queueStatus(): Promise<ReplyTo<"queue.status">> {
    return this.request({ type: "queue.status" });
  }

  /**
   * Joins a room. With `since` (an offset), in a room that keeps history, every message
   * after it follows the reply, then the live ones (`recovered` says whether all were kept).
   */
  joinRoom(room: string, since?: number): Promise<ReplyTo<"room.join">> {
    return this.request(since === undefined ? { type: "room.join", room } : { type: "room.join", room, since });
  }

  leaveRoom(room: string): Promise<ReplyTo<"room.leave">> {
    return this.request({ type: "room.leave", room });
  }

  /** The newest kept messages of a room (before `before`, to page back), newest last. */
  roomHistory(room: string, options: Omit<Fields<"room.history">, "room"> = {}): Promise<ReplyTo<"room.history">> {
    return this.request({ type: "room.history", room, ...options });
  }

  /** One page (100) of a room's members; pass the reply's `cursor` for the next. */
  roomMembers(room: string, cursor?: string): Promise<ReplyTo<"room.members">> {
    return this.request(cursor === undefined ? { type: "room.members", room } : { type: "room.members", room, cursor });
  }

  /** Every member of a room, walking the pages. */
  async allRoomMembers(room: string): Promise<string[]> {
    const members: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.roomMembers(room, cursor);
      members.push(...page.members);
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    return members;
  }

  /** Whether each player (at most 100) is online, and when they were last seen. */
  presence(players: string[]): Promise<ReplyTo<"presence.get">> {
    return this.request({ type: "presence.get", players });
  }

  /** Whispers from `player` stop reaching this player (kept across sessions). */
  block(player: string): Promise<ReplyTo<"block">> {
    return this.request({ type: "block", player });
  }

  unblock(player: string): Promise<ReplyTo<"unblock">> {
    return this.request({ type: "unblock", player });
  }

  /** Sends `body` (any JSON value, at most 4 KiB) to every member of `room`. */
  sendToRoom(room: string, body: unknown): Promise<ReplyTo<"room.send">> {
    return this.request({ type: "room.send", room, body } as Extract<ClientRequest, { type: "room.send" }>);
  }

  /** Sends `body` to one player, wherever they are connected. */
  whisper(to: string, body: unknown): Promise<ReplyTo<"whisper">> {
    return this.request({ type: "whisper", to, body } as Extract<ClientRequest, { type: "whisper" }>);
  }

  /** The player's own profile (name, rating, games). */
  profile(): Promise<ReplyTo<"profile.get">> {
    return this.request({ type: "profile.get" });
  }

  /** A static game-data document (`items`/`sword`, ...). */
  gameData(kind: string, id: string): Promise<ReplyTo<"data.get">> {
    return this.request({ type: "data.get", kind, id });
  }

  createParty(): Promise<ReplyTo<"party.create">> {
    return this.request({ type: "party.create" });
  }

  inviteToParty(to: string): Promise<ReplyTo<"party.invite">> {
    return this.request({ type: "party.invite", to });
  }

  acceptParty(party: string): Promise<ReplyTo<"party.accept">> {
    return this.request({ type: "party.accept", party });
  }

  declineParty(party: string): Promise<ReplyTo<"party.decline">> {
    return this.request({ type: "party.decline", party });
  }

  leaveParty(): Promise<ReplyTo<"party.leave">> {
    return this.request({ type: "party.leave" });
  }

  kickFromParty(player: string): Promise<ReplyTo<"party.kick">> {
    return this.request({ type: "party.kick", player });
  }

  promoteInParty(player: string): Promise<ReplyTo<"party.promote">> {
    return this.request({ type: "party.promote", player });
  }

  /** The player's party now (`not_in_party` if none). */
  party(): Promise<ReplyTo<"party.get">> {
    return this.request({ type: "party.get" });
  }

  /** Accepts a match's ready check. */
  acceptMatch(match: string): Promise<ReplyTo<"match.accept">> {
    return this.request({ type: "match.accept", match });
  }

  /** Declines a match's ready check: the match is cancelled. */
  declineMatch(match: string): Promise<ReplyTo<"match.decline">> {
    return this.request({ type: "match.decline", match });
  }

  // ---- connection ----

  /** Drops the socket and reconnects to the next gateway, resuming as after a lost connection. */
  reconnect(): void {
    if (this.closed || !this.socket) return;
    this.lost("the game asked to reconnect", undefined, 0);
  }

  /** Closes the socket (1000) and stops; pending requests fail with `ClosedError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const socket = this.detach();
    socket?.close(1000, "closed by the client");
    this.failWaiting(() => new ClosedError());
    this.hub.emit({ kind: "closed", reason: "closed by the client" });
    this.hub.end();
  }

  private attach(socket: WebSocketLike): void {
    this.socket = socket;
    socket.onmessage = (event) => {
      const message = decodeFrame(event.data);
      if (message) this.deliver(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      if (event.code === CLOSE_SESSION_REPLACED) {
        this.end(`the session was replaced by a newer connection (${event.code})`, event.code);
      } else {
        this.lost(`closed by the gateway (${event.code}${event.reason ? `: ${event.reason}` : ""})`, event.code);
      }
    };
    socket.onerror = () => {
      // onclose follows and decides.
    };
    const interval = this.options.pingIntervalMs ?? this.welcome.heartbeat_ms;
    this.pingTimer = setInterval(() => {
      try {
        socket.send(encodeFrame({ type: "ping" }, this.options.encoding));
      } catch {
        // The close event handles a dead socket.
      }
    }, Math.max(interval, 100));
  }

  private detach(): WebSocketLike | undefined {
    const socket = this.socket;
    this.socket = undefined;
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
    }
    return socket;
  }

  private failWaiting(error: () => Error): void {
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error());
    }
    this.waiting.clear();
  }

  /** The client stops for good (4001, or reconnecting gave up). */
  private end(reason: string, code?: number): void {
    this.closed = true;
    this.detach()?.close(1000);
    this.failWaiting(() => new ClosedError(reason));
    this.hub.emit({ kind: "closed", reason, code });
    this.hub.end();
  }

  /** The connection is gone (or asked to move): reconnect after `firstPauseMs`. */
  private lost(reason: string, code?: number, firstPauseMs?: number): void {
    const socket = this.detach();
    socket?.close(1000);
    this.failWaiting(() => new DisconnectedError());
    if (!this.options.reconnect.enabled) {
      this.end(`${reason}; reconnecting is off`, code);
      return;
    }
    this.hub.emit({ kind: "disconnected", reason, code });
    void this.reconnectLoop(firstPauseMs);
  }

  private async reconnectLoop(firstPauseMs?: number): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const { reconnect, urls } = this.options;
    let failures = 0;
    let pause = firstPauseMs ?? backoffDelay(0, reconnect, this.options.random);
    try {
      for (;;) {
        await sleep(pause);
        if (this.closed) return;
        this.urlIndex = (this.urlIndex + 1) % urls.length;
        try {
          const opened = await open(this.WebSocketImpl, this.options, this.urlIndex);
          if (this.closed) {
            opened.socket.close(1000);
            return;
          }
          this.welcome = opened.welcome;
          this.attach(opened.socket);
          const status = await this.resume();
          this.hub.emit({ kind: "reconnected", welcome: opened.welcome, status });
          return;
        } catch (error) {
          failures++;
          if (reconnect.attempts !== undefined && failures >= reconnect.attempts) {
            this.end(`gave up reconnecting: ${(error as Error).message}`);
            return;
          }
          pause = backoffDelay(failures, reconnect, this.options.random);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  /**
   * After a reconnect: joins every room again, with `since` where a message with an offset
   * was seen (the messages missed follow each `room.joined`, which reaches the game as a
   * push), then asks `queue.status` so the game learns where its ticket stands (the
   * gateway sends a pending `match.found` again by itself).
   */
  private async resume(): Promise<Push<"queue.status"> | undefined> {
    const socket = this.socket;
    if (!socket) return undefined;
    for (const [room, since] of this.rooms) {
      const join = since === undefined ? { type: "room.join", room } : { type: "room.join", room, since };
      socket.send(encodeFrame(join, this.options.encoding));
    }
    try {
      return await this.queueStatus();
    } catch {
      return undefined;
    }
  }

  private noteRooms(request: ClientRequest): void {
    if (request.type === "room.join" && !this.rooms.has(request.room)) {
      this.rooms.set(request.room, undefined);
    } else if (request.type === "room.leave") {
      this.rooms.delete(request.room);
    }
  }

  private deliver(message: ServerMessage): void {
    // The latest offset of each history room: a message's, or a join's.
    if ((message.type === "room.message" || message.type === "room.joined") && message.offset !== undefined) {
      if (this.rooms.has(message.room)) {
        const seen = this.rooms.get(message.room);
        this.rooms.set(message.room, seen === undefined ? message.offset : Math.max(seen, message.offset));
      }
    }
    const rid = "rid" in message ? message.rid : undefined;
    if (rid !== undefined && rid !== null) {
      const waiter = this.waiting.get(String(rid));
      if (waiter) {
        this.waiting.delete(String(rid));
        clearTimeout(waiter.timer);
        if (message.type === "error") {
          waiter.reject(new RequestError(message.code, message.message, rid));
        } else {
          waiter.resolve(message);
        }
        return;
      }
      // A reply whose request timed out: its caller has been told already.
      return;
    }
    if (message.type === "pong") return;
    if (message.type === "reconnect") {
      this.hub.emit({ kind: "push", message });
      this.lost(`the gateway asked to reconnect (${message.reason})`, undefined, message.after_ms);
      return;
    }
    this.hub.emit({ kind: "push", message });
  }
}

interface Opened {
  socket: WebSocketLike;
  welcome: Push<"welcome">;
  urlIndex: number;
}

/** Opens a socket to URL `index` and waits for its `welcome`. */
function open(WebSocketImpl: WebSocketConstructor, options: Resolved, index: number): Promise<Opened> {
  const base = options.urls[index] ?? "";
  const auth = options.auth;
  const query = "guest" in auth ? `guest=${encodeURIComponent(auth.guest)}` : `token=${encodeURIComponent(auth.token)}`;
  const url = `${base}${base.includes("?") ? "&" : "?"}${query}`;
  return new Promise<Opened>((resolve, reject) => {
    let socket: WebSocketLike;
    try {
      socket = new WebSocketImpl(url, [SUBPROTOCOL[options.encoding]]);
    } catch (error) {
      reject(new ConnectError(`${base}: ${(error as Error).message}`));
      return;
    }
    socket.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      finish(new ConnectError(`${base}: no welcome within ${options.requestTimeoutMs} ms`));
      socket.close();
    }, options.requestTimeoutMs);
    const finish = (result: Error | Push<"welcome">): void => {
      clearTimeout(timer);
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
      if (result instanceof Error) reject(result);
      else resolve({ socket, welcome: result, urlIndex: index });
    };
    socket.onmessage = (event) => {
      const message = decodeFrame(event.data);
      if (message?.type === "welcome") {
        finish(message);
      } else {
        finish(new ConnectError(`${base}: expected welcome, got ${message?.type ?? "an undecodable frame"}`));
        socket.close();
      }
    };
    socket.onclose = (event) => {
      finish(
        new ConnectError(
          `${base}: closed before welcome (${event.code}${event.reason ? `: ${event.reason}` : ""}; a refused token or guest is closed so by browsers)`,
          event.code,
        ),
      );
    };
    socket.onerror = () => {
      // onclose follows.
    };
  });
}
