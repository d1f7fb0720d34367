/**
 * A dedicated game server's life in the pool, around a game's callbacks: register,
 * heartbeat with the matches in play, long-poll for assignments and acknowledge each one
 * before polling again, hand new matches (and backfill updates) to the game, post
 * results, honour a drain, leave on stop.
 */
import type { Assignment, MatchResult, RegisterServer, Registered } from "../protocol.js";
import { sleep } from "../retry.js";
import { PoolClient, type PoolClientOptions, PoolError, type Standing } from "./pool.js";

/** What a `GameServer` runs. */
export interface GameServerOptions {
  /** How to reach the pool, and the fleet's registration token. */
  pool: PoolClientOptions;
  /** This server: id, region, the `host:port` players connect to, capacity, labels. */
  server: RegisterServer;
  /** A new match for this server (already acknowledged): start the game. */
  onAssignment: (assignment: Assignment) => void | Promise<void>;
  /** A running match changed (players added by backfill); acknowledged once this returns. */
  onUpdate?: (assignment: Assignment) => void | Promise<void>;
  /** The pool's view of this server changed (`draining`, `drained`). */
  onStanding?: (standing: Standing) => void;
  /** Something went wrong that the loop retries (a failed heartbeat or poll). */
  onWarning?: (message: string, error: unknown) => void;
  /** How long one long poll waits (20,000 ms). */
  longPollMs?: number;
}

/** Runs one game server against the pool. */
export class GameServer {
  readonly pool: PoolClient;
  /** The matches in play, by id (the heartbeat reports them). */
  readonly games = new Map<string, Assignment>();
  private registered?: Registered;
  private stopped = false;
  private standing: Standing = "member";
  private heartbeatTimer?: ReturnType<typeof setInterval>;
  private polling?: Promise<void>;
  private drainedResolve?: () => void;
  /** Resolves when the pool says this server was drained and has left. */
  readonly drained: Promise<void>;

  constructor(private readonly options: GameServerOptions) {
    this.pool = new PoolClient(options.pool);
    this.drained = new Promise((resolve) => {
      this.drainedResolve = resolve;
    });
  }

  /** Registers and starts heartbeating and polling; resolves with the registration. */
  async start(): Promise<Registered> {
    this.registered = await this.pool.register(this.options.server);
    const interval = Math.max(this.registered.heartbeat_interval_ms, 100);
    this.heartbeatTimer = setInterval(() => void this.beat(), interval);
    this.polling = this.pollLoop();
    return this.registered;
  }

  /** Where the server stands, as the latest heartbeat said. */
  get poolStanding(): Standing {
    return this.standing;
  }

  /**
   * Posts a finished match's result (placements best first) and forgets the match;
   * resolves `recorded` or `duplicate`.
   */
  async finish(match: string, result: MatchResult): Promise<"recorded" | "duplicate"> {
    const outcome = await this.pool.result(match, result);
    this.games.delete(match);
    return outcome;
  }

  /** Stops taking games and leaves the pool (after the games in play, which the pool lets end). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    try {
      await this.pool.leave(this.options.server.id);
    } catch (error) {
      this.options.onWarning?.("could not tell the pool; it reaps this server when heartbeats stop", error);
    }
    await this.polling?.catch(() => undefined);
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      const { standing } = await this.pool.heartbeat(this.options.server, {
        active_games: this.games.size,
        games: [...this.games.keys()],
      });
      this.setStanding(standing);
    } catch (error) {
      if (error instanceof PoolError && error.status === 401) {
        // Another incarnation took the id, or the token is no longer current: register again.
        await this.reregister(error);
        return;
      }
      this.options.onWarning?.("heartbeat failed; retrying at the next beat", error);
    }
  }

  private async reregister(cause: unknown): Promise<void> {
    this.options.onWarning?.("the pool refused this server's token; registering again", cause);
    try {
      this.registered = await this.pool.register(this.options.server, { attempts: 1 });
    } catch (error) {
      this.options.onWarning?.("registering again failed; retrying at the next beat", error);
    }
  }

  private setStanding(standing: Standing): void {
    if (standing === this.standing) return;
    this.standing = standing;
    this.options.onStanding?.(standing);
    if (standing === "drained") {
      this.stopped = true;
      if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
      this.drainedResolve?.();
    }
  }

  private async pollLoop(): Promise<void> {
    while (!this.stopped) {
      let assignments: Assignment[] | undefined;
      try {
        assignments = await this.pool.assignments(this.options.server.id, this.options.longPollMs ?? 20_000);
      } catch (error) {
        this.options.onWarning?.("polling for assignments failed; retrying", error);
        await sleep(500);
        continue;
      }
      if (assignments === undefined) {
        // Unknown or drained: the heartbeat deals with it.
        await sleep(500);
        continue;
      }
      // Acknowledged before the next poll, several at once.
      await Promise.all(assignments.map((assignment) => this.take(assignment)));
    }
  }

  /**
   * A new match is acknowledged, then handed to the game; an update of a running one
   * (backfill) is handed to the game first, then acknowledged, so the new players are
   * expected before they can arrive.
   */
  private async take(assignment: Assignment): Promise<void> {
    const known = this.games.has(assignment.match);
    this.games.set(assignment.match, assignment);
    if (known) await this.callback(assignment, () => this.options.onUpdate?.(assignment));
    try {
      await this.pool.ack(assignment.match);
    } catch (error) {
      this.options.onWarning?.(`acknowledging ${assignment.match} failed; it comes again`, error);
      if (!known) this.games.delete(assignment.match);
      return;
    }
    if (!known) await this.callback(assignment, () => this.options.onAssignment(assignment));
  }

  private async callback(assignment: Assignment, call: () => void | Promise<void>): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.options.onWarning?.(`the game's callback for ${assignment.match} threw`, error);
    }
  }
}
