/**
 * The WebSocket the client drives: the browser's own, or in Node the `ws` package, which
 * has the same interface. Only what the client uses is named here.
 */

/** The part of the WHATWG WebSocket interface the client uses (browsers and `ws` have it). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket class: `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * The implementation to use: the one given, else the platform's (browsers, Node 22+),
 * else the `ws` package (Node 20), loaded only when needed.
 */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given) return given;
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native) return native;
  try {
    const name = "ws";
    const module = (await import(/* @vite-ignore */ name)) as { default: WebSocketConstructor };
    return module.default;
  } catch {
    throw new Error("no WebSocket here: in Node 20, install the `ws` package (npm install ws) or pass options.WebSocket");
  }
}
