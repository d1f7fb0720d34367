/**
 * Rallypoint's wire protocol (proto/PROTOCOL.md) as TypeScript types.
 *
 * GENERATED from proto/schema/protocol.json by scripts/generate-types.mjs: do not edit.
 * Run `make schema` after changing a message in the Rust `proto` crate.
 */

/**
 * 1 to 64 characters of [A-Za-z0-9_.:-]
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "Id".
 */
export type Id = string;
/**
 * A client request, tagged by `type`.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "ClientRequest".
 */
export type ClientRequest =
  | {
      type: "ping";
    }
  | {
      /**
       * Queue name.
       */
      queue: Id;
      /**
       * Region name.
       */
      region: Id;
      type: "queue.join";
    }
  | {
      type: "queue.leave";
    }
  | {
      type: "queue.status";
    }
  | {
      /**
       * Room id.
       */
      room: Id;
      /**
       * In a room that keeps history: the offset of the last message seen; every
       * later one follows the reply, in order, before live ones.
       */
      since?: number;
      type: "room.join";
    }
  | {
      /**
       * Only messages before this offset (paging back); absent: the newest.
       */
      before?: number;
      /**
       * At most this many (1..=[`ROOM_HISTORY_PAGE`], the default).
       */
      limit?: number;
      /**
       * Room id.
       */
      room: Id;
      type: "room.history";
    }
  | {
      /**
       * Room id.
       */
      room: Id;
      type: "room.leave";
    }
  | {
      /**
       * 1 to 64 characters of [A-Za-z0-9_.:-]
       */
      cursor?: string;
      /**
       * Room id.
       */
      room: Id;
      type: "room.members";
    }
  | {
      /**
       * At most [`MAX_PRESENCE_PLAYERS`] player ids.
       */
      players: Id[];
      type: "presence.get";
    }
  | {
      /**
       * The player blocked.
       */
      player: Id;
      type: "block";
    }
  | {
      /**
       * The player unblocked.
       */
      player: Id;
      type: "unblock";
    }
  | {
      /**
       * Payload, at most 4 KiB as JSON.
       */
      body: Body;
      /**
       * Room id.
       */
      room: Id;
      type: "room.send";
    }
  | {
      /**
       * Payload, at most 4 KiB as JSON.
       */
      body: Body;
      /**
       * Target player.
       */
      to: Id;
      type: "whisper";
    }
  | {
      type: "profile.get";
    }
  | {
      /**
       * The document's id within its kind.
       */
      id: Id;
      /**
       * The kind of data (`items`, `maps`, ...).
       */
      kind: Id;
      type: "data.get";
    }
  | {
      type: "party.create";
    }
  | {
      /**
       * The player invited.
       */
      to: Id;
      type: "party.invite";
    }
  | {
      /**
       * The party.
       */
      party: Id;
      type: "party.accept";
    }
  | {
      /**
       * The party.
       */
      party: Id;
      type: "party.decline";
    }
  | {
      type: "party.leave";
    }
  | {
      /**
       * The member removed.
       */
      player: Id;
      type: "party.kick";
    }
  | {
      /**
       * The new leader.
       */
      player: Id;
      type: "party.promote";
    }
  | {
      type: "party.get";
    }
  | {
      /**
       * The match.
       */
      match: Id;
      type: "match.accept";
    }
  | {
      /**
       * The match.
       */
      match: Id;
      type: "match.decline";
    };
/**
 * any JSON value, at most 4096 bytes encoded as JSON
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "Body".
 */
export type Body = unknown;
/**
 * WebSocket close codes the gateway sends (PROTOCOL.md section 1).
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "CloseCode".
 */
export type CloseCode =
  | PolicyViolation
  | TooLarge
  | Internal
  | SessionReplaced
  | Draining
  | TooSlow
  | IdleTimeout
  | Kicked;
/**
 * policy violation
 */
export type PolicyViolation = 1008;
/**
 * frame too large
 */
export type TooLarge = 1009;
/**
 * internal error
 */
export type Internal = 1011;
/**
 * session replaced
 */
export type SessionReplaced = 4001;
/**
 * draining
 */
export type Draining = 4002;
/**
 * too slow
 */
export type TooSlow = 4003;
/**
 * idle timeout
 */
export type IdleTimeout = 4004;
/**
 * disconnected by the server
 */
export type Kicked = 4005;
/**
 * The `code` of an `error` push.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "ErrorCode".
 */
export type ErrorCode =
  | "bad_request"
  | "unknown_type"
  | "rate_limited"
  | "already_queued"
  | "not_queued"
  | "unknown_queue"
  | "unknown_region"
  | "not_online"
  | "too_large"
  | "unavailable"
  | "internal"
  | "not_leader"
  | "party_full"
  | "not_invited"
  | "already_in_party"
  | "in_queue"
  | "not_in_party"
  | "too_many_invites"
  | "party_too_large"
  | "cooldown"
  | "unknown_match"
  | "muted";
/**
 * A server -> client message, tagged by `type`.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "ServerMessage".
 */
export type ServerMessage =
  | {
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "pong";
    }
  | {
      /**
       * Games played.
       */
      games: number;
      /**
       * Display name.
       */
      name: string;
      /**
       * The player.
       */
      player: Id;
      /**
       * Current rating (after every result stored so far).
       */
      rating: number;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "profile";
    }
  | {
      /**
       * The document, or null when the kind has no such document.
       */
      document: {
        [k: string]: unknown | undefined;
      };
      /**
       * The document id asked for.
       */
      id: Id;
      /**
       * The kind asked for.
       */
      kind: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "data";
      /**
       * The kind's version the document was read at (grows with every change).
       */
      version: number;
    }
  | {
      /**
       * Queue name.
       */
      queue: Id;
      /**
       * Region name.
       */
      region: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * The new ticket.
       */
      ticket: Id;
      type: "queue.joined";
    }
  | {
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "queue.left";
    }
  | {
      /**
       * 1 to 64 characters of [A-Za-z0-9_.:-]
       */
      match?: string;
      /**
       * 1 to 64 characters of [A-Za-z0-9_.:-]
       */
      queue?: string;
      /**
       * 1 to 64 characters of [A-Za-z0-9_.:-]
       */
      region?: string;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * Where the player stands.
       */
      state: QueueState;
      type: "queue.status";
      /**
       * How long the ticket has waited, unless idle.
       */
      waited_ms?: number;
    }
  | {
      /**
       * Member count, this player included.
       */
      members: number;
      /**
       * Only for a join without `since` of a room that keeps history: the room's latest
       * offset now; every later message reaches this connection (a client keeps it as
       * its `since` until a message brings a newer one).
       */
      offset?: number;
      /**
       * Only for a join with `since`: whether every message after `since` follows
       * (false: the history no longer reaches back that far, or the room keeps none).
       */
      recovered?: boolean;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * Room id.
       */
      room: Id;
      type: "room.joined";
    }
  | {
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * Room id.
       */
      room: Id;
      type: "room.left";
    }
  | {
      /**
       * Newest last.
       */
      messages: HistoryMessage[];
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * Room id.
       */
      room: Id;
      type: "room.history";
    }
  | {
      /**
       * 1 to 64 characters of [A-Za-z0-9_.:-]
       */
      cursor?: string;
      /**
       * At most [`crate::client::ROOM_MEMBERS_PAGE`] player ids.
       */
      members: Id[];
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * Room id.
       */
      room: Id;
      type: "room.members";
    }
  | {
      /**
       * By player id.
       */
      players: {
        [k: string]: PlayerPresence | undefined;
      };
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "presence";
    }
  | {
      /**
       * The player blocked.
       */
      player: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "blocked";
    }
  | {
      /**
       * The player unblocked.
       */
      player: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "unblocked";
    }
  | {
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * Room id.
       */
      room: Id;
      type: "room.sent";
    }
  | {
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "whisper.sent";
    }
  | {
      /**
       * Its leader.
       */
      leader: Id;
      /**
       * How many members it may have.
       */
      max_size: number;
      /**
       * Its members, longest-standing first (the leader among them).
       */
      members: Id[];
      /**
       * Party id.
       */
      party: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "party";
    }
  | {
      /**
       * Party id.
       */
      party: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      /**
       * The player invited.
       */
      to: Id;
      type: "party.invited";
    }
  | {
      /**
       * Party id.
       */
      party: Id;
      /**
       * Echoed request id.
       */
      rid?: number | string;
      type: "party.declined";
    }
  | {
      /**
       * Players who accepted so far.
       */
      accepted: number;
      /**
       * Match id.
       */
      match: Id;
      /**
       * Echoed request id (a reply only).
       */
      rid?: number | string;
      /**
       * Players in the match.
       */
      total: number;
      type: "match.ready_update";
    }
  | {
      /**
       * Party id.
       */
      party: Id;
      /**
       * Why, e.g. [`reason::KICKED`].
       */
      reason: string;
      /**
       * Echoed request id (a reply to `party.leave` only).
       */
      rid?: number | string;
      type: "party.left";
    }
  | {
      /**
       * The gateway instance serving it.
       */
      gateway: Id;
      /**
       * How often the client should ping.
       */
      heartbeat_ms: number;
      /**
       * The authenticated player.
       */
      player: Id;
      /**
       * This connection's session.
       */
      session: Id;
      type: "welcome";
    }
  | {
      /**
       * Proof for the game server that this player belongs to the match.
       */
      join_token: string;
      /**
       * Match id.
       */
      match: Id;
      /**
       * Queue name.
       */
      queue: Id;
      /**
       * Region name.
       */
      region: Id;
      /**
       * Where to connect.
       */
      server: ServerEndpoint;
      /**
       * The teams.
       */
      teams: TeamMember[][];
      type: "match.found";
    }
  | {
      /**
       * Match id.
       */
      match: Id;
      /**
       * Why, e.g. [`reason::NO_SERVER`].
       */
      reason: string;
      /**
       * Whether the player's ticket was put back in the queue.
       */
      requeued: boolean;
      type: "match.cancelled";
    }
  | {
      /**
       * Queue name.
       */
      queue: Id;
      type: "queue.timeout";
      /**
       * How long it waited.
       */
      waited_ms: number;
    }
  | {
      /**
       * Payload.
       */
      body: Body;
      /**
       * Sender.
       */
      from: Id;
      /**
       * Its place in the room's history, in a room that keeps one: grows by one per
       * message (pass the last one seen as `room.join`'s `since` to recover).
       */
      offset?: number;
      /**
       * Room id.
       */
      room: Id;
      /**
       * When the gateway accepted it, ms since the Unix epoch.
       */
      ts: number;
      type: "room.message";
    }
  | {
      /**
       * Players who joined.
       */
      joined: Id[];
      /**
       * Players who left (or whose gateway went away).
       */
      left: Id[];
      /**
       * Room id.
       */
      room: Id;
      type: "room.presence";
    }
  | {
      /**
       * Payload.
       */
      body: Body;
      /**
       * Sender.
       */
      from: Id;
      /**
       * When the gateway accepted it, ms since the Unix epoch.
       */
      ts: number;
      type: "whisper";
    }
  | {
      /**
       * Payload.
       */
      body: Body;
      /**
       * When a gateway accepted it, ms since the Unix epoch.
       */
      ts: number;
      type: "notice";
    }
  | {
      /**
       * Why, e.g. [`reason::SESSION_REPLACED`].
       */
      reason: string;
      type: "kicked";
    }
  | {
      /**
       * How long to wait first (spreads the reconnect storm).
       */
      after_ms: number;
      /**
       * Why, e.g. [`reason::DRAINING`].
       */
      reason: string;
      type: "reconnect";
    }
  | {
      /**
       * When the check closes, ms since the Unix epoch.
       */
      expires_ms: number;
      /**
       * Match id.
       */
      match: Id;
      /**
       * Queue name.
       */
      queue: Id;
      /**
       * Region name.
       */
      region: Id;
      /**
       * The teams.
       */
      teams: TeamMember[][];
      type: "match.ready_check";
    }
  | {
      /**
       * Who invited.
       */
      from: Id;
      /**
       * Party id.
       */
      party: Id;
      type: "party.invite";
    }
  | {
      /**
       * Its leader.
       */
      leader: Id;
      /**
       * Its members, longest-standing first.
       */
      members: Id[];
      /**
       * Party id.
       */
      party: Id;
      type: "party.updated";
    }
  | {
      /**
       * What kind of failure.
       */
      code: ErrorCode;
      /**
       * Human-readable detail.
       */
      message: string;
      /**
       * The failed request's `rid`, when it had one.
       */
      rid?: number | string;
      type: "error";
    };
/**
 * Where a player stands in matchmaking.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "QueueState".
 */
export type QueueState = "idle" | "searching" | "matched";
/**
 * a request id: an integer, or a string of at most 64 bytes
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "Rid".
 */
export type Rid = number | string;

/**
 * Rallypoint's wire protocol (proto/PROTOCOL.md), generated from the Rust `proto` crate: do not edit; run `make schema`.
 */
export interface RallypointProtocol {
  AssignmentsReply?: AssignmentsReply;
  BackfillAccepted?: BackfillAccepted;
  BackfillRequest?: BackfillRequest;
  ClientRequest?: ClientRequest;
  CloseCode?: CloseCode;
  ErrorCode?: ErrorCode;
  Heartbeat?: Heartbeat;
  HttpError?: HttpError;
  MatchResult?: MatchResult;
  RegisterServer?: RegisterServer;
  Registered?: Registered;
  ServerMessage?: ServerMessage;
}
/**
 * Answer to a heartbeat and to `GET /v1/servers/{id}/assignments`.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "AssignmentsReply".
 */
export interface AssignmentsReply {
  /**
   * Pending assignments, possibly none.
   */
  assignments: Assignment[];
  /**
   * The server is draining (an operator asked): it gets no new games and leaves the
   * pool when its last one ends. Only sent when true.
   */
  draining?: boolean;
}
/**
 * A match allocated to a game server: what `match.found` told the players.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "Assignment".
 */
export interface Assignment {
  /**
   * Players who joined the running match by backfill (they are in `teams` too). A
   * match the server runs already comes back in its assignments when a backfill
   * adds players; acknowledging it again takes the update. Only sent when not empty.
   */
  backfilled?: Id[];
  /**
   * Match id.
   */
  match: Id;
  /**
   * Queue name.
   */
  queue: Id;
  /**
   * Region name.
   */
  region: Id;
  /**
   * Optional hint identifying which join-token secret is in use (for key rotation).
   */
  secret_hint?: string;
  /**
   * The teams.
   */
  teams: TeamMember[][];
}
/**
 * One player of a team, as announced in `match.found` and assignments.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "TeamMember".
 */
export interface TeamMember {
  /**
   * The player.
   */
  player: Id;
  /**
   * Their rating when the match was formed.
   */
  rating: number;
}
/**
 * `202` answer to a backfill request.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "BackfillAccepted".
 */
export interface BackfillAccepted {
  /**
   * The request's id (a new request for the same match replaces it).
   */
  backfill: string;
}
/**
 * `POST /v1/matches/{match}/backfill`: the server asks for players for a running match.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "BackfillRequest".
 */
export interface BackfillRequest {
  /**
   * How many players each team needs.
   */
  slots: BackfillSlot[];
}
/**
 * Players wanted on one team.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "BackfillSlot".
 */
export interface BackfillSlot {
  /**
   * How many players it needs (at least 1, at most the team's size).
   */
  count: number;
  /**
   * The team's index in the match's `teams`.
   */
  team: number;
}
/**
 * `POST /v1/servers/{id}/heartbeat`.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "Heartbeat".
 */
export interface Heartbeat {
  /**
   * Games running now.
   */
  active_games?: number;
  /**
   * The matches this server is running now. When sent, a started match the pool has on
   * this server that two heartbeats in a row leave out is ended as `server_lost` (the
   * server lost it, e.g. by a restart), so its players are freed and its slot given back.
   */
  games?: Id[];
  /**
   * Players connected now.
   */
  players?: number;
}
/**
 * Error body of every non-2xx answer, e.g. `{"error":"unauthorized","message":"..."}`.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "HttpError".
 */
export interface HttpError {
  /**
   * Short machine-readable code (`unauthorized`, `bad_request`, `not_found`, ...).
   */
  error: string;
  /**
   * Human-readable detail.
   */
  message: string;
}
/**
 * `POST /v1/matches/{match}/result`.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "MatchResult".
 */
export interface MatchResult {
  /**
   * Player ids grouped by placement, best first (ties share a group).
   */
  placements: Id[][];
  /**
   * Free-form game statistics, stored as is.
   */
  stats?: {
    [k: string]: unknown | undefined;
  };
}
/**
 * `POST /v1/servers`: a game server joins the pool.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "RegisterServer".
 */
export interface RegisterServer {
  /**
   * `host:port` players connect to.
   */
  address: string;
  /**
   * Concurrent games it can run, 1..=[`MAX_CAPACITY`].
   */
  capacity: number;
  /**
   * Chosen by the game server; registering again with the same id replaces the entry.
   */
  id: Id;
  /**
   * Free-form labels (e.g. `{"map_pool":"ranked"}`); keys follow the id rule.
   */
  labels?: {
    [k: string]: string | undefined;
  };
  /**
   * Region it serves.
   */
  region: Id;
}
/**
 * `201` answer to [`RegisterServer`].
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "Registered".
 */
export interface Registered {
  /**
   * How often to heartbeat; missing a few gets the server dropped.
   */
  heartbeat_interval_ms: number;
  /**
   * The registered id.
   */
  id: Id;
  /**
   * Which registration of this id this is: a server restarted under the same id gets
   * a higher one, and the games of the one before end as `server_lost`.
   */
  incarnation: number;
  /**
   * This server's own credential: every later call for it (heartbeat, assignments,
   * ack, result, leave) sends `Authorization: Bearer <server_token>`. The pool keeps
   * only its hash, so it is shown once; a server that loses it registers again.
   */
  server_token: string;
}
/**
 * One kept message of a room (`room.history`).
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "HistoryMessage".
 */
export interface HistoryMessage {
  /**
   * Payload.
   */
  body: Body;
  /**
   * Sender.
   */
  from: Id;
  /**
   * Its place in the room's history.
   */
  offset: number;
  /**
   * When the gateway accepted it, ms since the Unix epoch.
   */
  ts: number;
}
/**
 * Whether a player is online (`presence`).
 *
 * This interface was referenced by `undefined`'s JSON-Schema definition
 * via the `patternProperty` "^[A-Za-z0-9_.:-]{1,64}$".
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "PlayerPresence".
 */
export interface PlayerPresence {
  /**
   * Now while online; else when their last session ended (kept 30 days), if known.
   */
  last_seen_ms?: number;
  /**
   * A session of theirs is live on some gateway.
   */
  online: boolean;
}
/**
 * The game server a match was allocated to.
 *
 * This interface was referenced by `RallypointProtocol`'s JSON-Schema
 * via the `definition` "ServerEndpoint".
 */
export interface ServerEndpoint {
  /**
   * `host:port` players connect to.
   */
  address: string;
  /**
   * Game server id.
   */
  id: Id;
}
