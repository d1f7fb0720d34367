/**
 * The server pool's HTTP API as a dedicated game server uses it (PROTOCOL.md section 2):
 * register with the fleet's registration token, then act with this incarnation's own
 * `server_token`: heartbeat with the matches it runs, long-poll for assignments,
 * acknowledge them, post results (retried while the pool is unreachable or answers 503),
 * ask for backfill, leave. `GameServer` runs the whole loop around a game's callbacks.
 */
import type {
  Assignment,
  AssignmentsReply,
  BackfillAccepted,
  BackfillRequest,
  Heartbeat,
  MatchResult,
  RegisterServer,
  Registered,
} from "../protocol.js";
import { retrying } from "../retry.js";

/** A pool call answered with an error status. `error` is the body's code (`id_in_use`, `not_your_match`, ...). */
export class PoolError extends Error {
  override name = "PoolError";
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(`the pool answered ${status} ${error}: ${message}`);
  }
}

/** No pool address answered. */
export class PoolUnreachableError extends Error {
  override name = "PoolUnreachableError";
}

/** Where this server stands with the pool, as its heartbeat learns. */
export type Standing =
  | "member"
  /** An operator is draining it: no new games; it leaves when its games end. */
  | "draining"
  /** It was drained and has left (410): it must not register again by itself. */
  | "drained";

/** How a `PoolClient` reaches the pool. */
export interface PoolClientOptions {
  /** The pool's base URLs (`http://127.0.0.1:8090`); each call tries them in turn. */
  urls: string[];
  /** The fleet's registration token (`pool.token`): sent only to register. */
  registrationToken: string;
  /** `fetch` to use (the platform's by default). */
  fetch?: typeof fetch;
  /** How long one call may take, long polls excepted (10,000 ms). */
  timeoutMs?: number;
}

type Answer<T> = { status: number; body?: T };

/** A client of the server pool for one game server. Never logs its tokens. */
export class PoolClient {
  private serverToken = "";
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: PoolClientOptions) {
    if (options.urls.length === 0) throw new Error("give at least one pool URL");
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** This incarnation's number, from the latest registration (0 before). */
  incarnation = 0;

  /**
   * Registers `server` and keeps its `server_token` for every later call. Retries while no
   * pool answers or the id is still held by a lapsing incarnation (`409 id_in_use`).
   */
  async register(server: RegisterServer, options: { attempts?: number } = {}): Promise<Registered> {
    return retrying(
      async () => {
        const answer = await this.call<Registered>("POST", "/v1/servers", server);
        if (answer.status !== 201 || !answer.body) {
          throw new PoolError(answer.status, "unexpected", "the registration was not answered 201");
        }
        this.serverToken = answer.body.server_token;
        this.incarnation = answer.body.incarnation;
        return answer.body;
      },
      (error) => error instanceof PoolUnreachableError || (error instanceof PoolError && error.error === "id_in_use"),
      options.attempts,
    );
  }

  /**
   * A heartbeat with the matches this server runs now. Registers again when the pool no
   * longer knows the server (404), but not once it was drained (410: `drained`).
   */
  async heartbeat(server: RegisterServer, beat: Heartbeat): Promise<{ standing: Standing; assignments: Assignment[] }> {
    const answer = await this.call<AssignmentsReply>("POST", `/v1/servers/${enc(server.id)}/heartbeat`, beat);
    if (answer.status === 410) return { standing: "drained", assignments: [] };
    if (answer.status === 404) {
      await this.register(server);
      return { standing: "member", assignments: [] };
    }
    return {
      standing: answer.body?.draining ? "draining" : "member",
      assignments: answer.body?.assignments ?? [],
    };
  }

  /**
   * Long-polls for assignments: answers as soon as one is pending, or empty after
   * `waitMs`. Every assignment not yet acknowledged is in each answer: acknowledge the new
   * ones before polling again. `undefined` when the pool does not know the server (404)
   * or it was drained (410): the heartbeat deals with those.
   */
  async assignments(serverId: string, waitMs = 20_000): Promise<Assignment[] | undefined> {
    const answer = await this.call<AssignmentsReply>(
      "GET",
      `/v1/servers/${enc(serverId)}/assignments?wait_ms=${waitMs}`,
      undefined,
      waitMs + this.timeoutMs,
    );
    if (answer.status === 404 || answer.status === 410) return undefined;
    return answer.body?.assignments ?? [];
  }

  /** Takes an assignment (also a backfill's update of a running match). */
  async ack(match: string): Promise<void> {
    await this.call("POST", `/v1/matches/${enc(match)}/ack`);
  }

  /** Asks for players for a running match's teams; resolves with the request's id. */
  async backfill(match: string, request: BackfillRequest): Promise<BackfillAccepted> {
    const answer = await this.call<BackfillAccepted>("POST", `/v1/matches/${enc(match)}/backfill`, request);
    if (!answer.body) throw new PoolError(answer.status, "unexpected", "no backfill id in the answer");
    return answer.body;
  }

  /** Cancels the match's open backfill request (`false` when none was open). */
  async cancelBackfill(match: string): Promise<boolean> {
    const answer = await this.call("DELETE", `/v1/matches/${enc(match)}/backfill`);
    return answer.status === 204;
  }

  /**
   * Posts a match's result, retrying while no pool answers or no replica confirmed it
   * (503): results are idempotent. Resolves `recorded` (202) or `duplicate` (200).
   */
  async result(match: string, result: MatchResult): Promise<"recorded" | "duplicate"> {
    const answer = await retrying(
      () => this.call("POST", `/v1/matches/${enc(match)}/result`, result),
      (error) => error instanceof PoolUnreachableError || (error instanceof PoolError && error.status === 503),
    );
    return answer.status === 200 ? "duplicate" : "recorded";
  }

  /** Leaves the pool once the games in play end. */
  async leave(serverId: string): Promise<void> {
    await this.call("DELETE", `/v1/servers/${enc(serverId)}`);
  }

  /**
   * One call, tried on each pool address until one answers. 404 and 410 are answers the
   * callers interpret; another 4xx or a 5xx from every address throws.
   */
  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<Answer<T>> {
    const token = method === "POST" && path === "/v1/servers" ? this.options.registrationToken : this.serverToken;
    let last: PoolError | undefined;
    let unreachable = "";
    for (const url of this.options.urls) {
      let response: Response;
      try {
        response = await this.fetch(`${url.replace(/\/+$/, "")}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        unreachable = `${url}: ${(error as Error).message}`;
        continue;
      }
      const text = await response.text();
      const parsed = text ? safeJson(text) : undefined;
      if (response.ok || response.status === 404 || response.status === 410) {
        return { status: response.status, body: parsed as T | undefined };
      }
      const { error, message } = (parsed ?? {}) as { error?: string; message?: string };
      last = new PoolError(response.status, error ?? "unknown", message ?? text);
      // Another instance may answer a 5xx differently; a 4xx is the same everywhere.
      if (response.status < 500) throw last;
    }
    if (last) throw last;
    throw new PoolUnreachableError(`no pool address answered: ${unreachable}`);
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
