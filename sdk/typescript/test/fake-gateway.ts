// A scripted stand-in for a gateway, for the SDK's unit tests of its own behaviour
// (rid matching, pings, reconnect pacing, resume). The SDK against the real gateways is
// tested end to end in tests/tests/typescript_sdk.rs.
import { WebSocketServer, type WebSocket } from "ws";
import { decode } from "@msgpack/msgpack";
import type { AddressInfo } from "node:net";

export type Frame = { type: string; rid?: number | string; [field: string]: unknown };

/** One fake gateway: answers the basics, records every frame, lets a test act on sockets. */
export class FakeGateway {
  readonly received: Frame[] = [];
  readonly sockets: WebSocket[] = [];
  readonly protocols: string[] = [];
  readonly queries: URLSearchParams[] = [];
  private readonly server: WebSocketServer;
  private waiters: Array<{ accept: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private connectionWaiters: Array<(socket: WebSocket) => void> = [];
  /** Extra answers a test scripts: return a message (or nothing) for a frame. */
  answer: (frame: Frame, socket: WebSocket) => object | undefined = () => undefined;

  private constructor(
    readonly name: string,
    private readonly heartbeatMs: number,
  ) {
    this.server = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (set) => [...set][0] ?? false });
    this.server.on("connection", (socket, request) => {
      this.sockets.push(socket);
      this.protocols.push(socket.protocol);
      this.queries.push(new URL(request.url ?? "/", "http://x").searchParams);
      const binary = socket.protocol === "rallypoint.v1.msgpack";
      socket.send(
        JSON.stringify({ type: "welcome", player: "guest:alice", session: `s-${this.sockets.length}`, gateway: name, heartbeat_ms: heartbeatMs }),
      );
      socket.on("message", (data, isBinary) => {
        const frame = (isBinary ? decode(data as Buffer) : JSON.parse(String(data))) as Frame;
        if (binary !== isBinary) throw new Error("frame in the wrong encoding");
        this.received.push(frame);
        const reply = this.answer(frame, socket) ?? standard(frame);
        if (reply) socket.send(JSON.stringify(reply));
        this.waiters = this.waiters.filter((w) => {
          if (!w.accept(frame)) return true;
          w.resolve(frame);
          return false;
        });
      });
      for (const waiter of this.connectionWaiters.splice(0)) waiter(socket);
    });
  }

  static async start(name: string, heartbeatMs = 10_000): Promise<FakeGateway> {
    const gateway = new FakeGateway(name, heartbeatMs);
    await new Promise<void>((resolve) => gateway.server.once("listening", () => resolve()));
    return gateway;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/ws`;
  }

  /** The next frame (from now on) that `accept` agrees to. */
  frame(accept: (f: Frame) => boolean): Promise<Frame> {
    return new Promise((resolve) => this.waiters.push({ accept, resolve }));
  }

  /** The next connection's socket (or the current count's, if already there). */
  connection(number: number): Promise<WebSocket> {
    const existing = this.sockets[number - 1];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => {
      const wait = (socket: WebSocket): void => {
        if (this.sockets.length >= number) resolve(this.sockets[number - 1] ?? socket);
        else this.connectionWaiters.push(wait);
      };
      this.connectionWaiters.push(wait);
    });
  }

  push(message: object, socketIndex = this.sockets.length - 1): void {
    this.sockets[socketIndex]?.send(JSON.stringify(message));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function standard(frame: Frame): object | undefined {
  const rid = frame.rid;
  switch (frame.type) {
    case "ping":
      return rid === undefined ? undefined : { type: "pong", rid };
    case "queue.status":
      return { type: "queue.status", state: "searching", queue: "duel", region: "eu", waited_ms: 5, rid };
    case "room.join":
      return { type: "room.joined", room: frame.room, members: 1, ...(rid === undefined ? {} : { rid }) };
    case "room.leave":
      return { type: "room.left", room: frame.room, rid };
    case "room.send":
      return { type: "room.sent", room: frame.room, rid };
    case "whisper":
      return frame.to === "nobody"
        ? { type: "error", code: "not_online", message: "nobody is not online", rid }
        : { type: "whisper.sent", rid };
    default:
      return undefined;
  }
}
