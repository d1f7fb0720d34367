/**
 * What a client tells the game besides replies: pushes from the platform and the
 * connection's own life. Two ways to listen, over the same events: callbacks (`on`) and
 * async iterators (`events()`), each with its own unbounded buffer.
 */
import type { ServerMessage } from "./protocol.js";

/** A push of one `type`, e.g. `Push<"match.found">`. */
export type Push<T extends ServerMessage["type"] = ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

/** Everything a client delivers besides replies. */
export type ClientEvent =
  /** A push from the platform (`match.found`, `room.message`, `whisper`, ...). */
  | { kind: "push"; message: ServerMessage }
  /** The connection dropped (or the gateway asked the client to move); reconnecting. */
  | { kind: "disconnected"; reason: string; code?: number }
  /**
   * Connected again and resumed: the new `welcome`, and the `queue.status` asked right
   * after it (absent when it did not come in time).
   */
  | { kind: "reconnected"; welcome: Push<"welcome">; status?: Push<"queue.status"> }
  /** The client will not reconnect: closed by the game, its session was replaced (4001), or it gave up. */
  | { kind: "closed"; reason: string; code?: number };

type Lifecycle = Exclude<ClientEvent, { kind: "push" }>;

/** The listener `on(name)` takes: a push type gets that push, a lifecycle name its event. */
export type ListenerOf<N extends EventName> = N extends ServerMessage["type"]
  ? (message: Push<N>) => void
  : N extends "push"
    ? (message: ServerMessage) => void
    : N extends Lifecycle["kind"]
      ? (event: Extract<Lifecycle, { kind: N }>) => void
      : never;

/** What `on` listens to: one push type, every push (`"push"`), or a lifecycle event. */
export type EventName = ServerMessage["type"] | "push" | Lifecycle["kind"];

/** Fans events out to listeners and iterators. */
export class EventHub {
  private readonly listeners = new Map<string, Set<(value: never) => void>>();
  private readonly queues = new Set<EventQueue>();

  on<N extends EventName>(name: N, listener: ListenerOf<N>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as (value: never) => void);
    return () => set.delete(listener as (value: never) => void);
  }

  /** Every event from now on, in order, until `return()` (a `break` out of `for await`). */
  iterate(): AsyncIterableIterator<ClientEvent> {
    const queue = new EventQueue(() => this.queues.delete(queue));
    this.queues.add(queue);
    return queue;
  }

  emit(event: ClientEvent): void {
    if (event.kind === "push") {
      this.call(event.message.type, event.message);
      this.call("push", event.message);
    } else {
      this.call(event.kind, event);
    }
    for (const queue of this.queues) {
      queue.put(event);
    }
  }

  /** Ends every iterator (after what they hold). */
  end(): void {
    for (const queue of this.queues) {
      queue.finish();
    }
  }

  private call(name: string, value: unknown): void {
    for (const listener of this.listeners.get(name) ?? []) {
      try {
        (listener as (value: unknown) => void)(value);
      } catch (error) {
        // A game's listener that throws must not stop the others or the connection.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

class EventQueue implements AsyncIterableIterator<ClientEvent> {
  private readonly buffered: ClientEvent[] = [];
  private waiting?: (result: IteratorResult<ClientEvent>) => void;
  private done = false;

  constructor(private readonly onReturn: () => void) {}

  put(event: ClientEvent): void {
    if (this.done) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: event, done: false });
    } else {
      this.buffered.push(event);
    }
  }

  finish(): void {
    this.done = true;
    this.onReturn();
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<ClientEvent>> {
    const event = this.buffered.shift();
    if (event) return Promise.resolve({ value: event, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<ClientEvent>> {
    this.buffered.length = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ClientEvent> {
    return this;
  }
}
