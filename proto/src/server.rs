//! Messages a gateway sends to a game client: replies to requests and unsolicited pushes
//! (PROTOCOL.md section 1, "Server -> client").
//!
//! Replies carry the request's `rid`; pushes have no `rid` field at all, so a push can never
//! be mistaken for a reply. `reason` fields are free-form strings (see [`reason`]) so that a
//! new reason never breaks an old client.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::codes::ErrorCode;
use crate::ids::{
    GatewayId, Id, MatchId, PartyId, PlayerId, QueueName, RegionName, RoomId, ServerId,
};
use crate::ids::{SessionId, TicketId};
use crate::rid::Rid;

/// Well-known values of the `reason` fields.
/// The `from` of a `room.message` the studio's backend published (server API): no player
/// may have this id (the gateway refuses it as a token's subject).
pub const SERVER_SENDER: &str = "server";

pub mod reason {
    /// `kicked`: the same player connected again elsewhere.
    pub const SESSION_REPLACED: &str = "session_replaced";
    /// `reconnect`: the gateway is shutting down.
    pub const DRAINING: &str = "draining";
    /// `match.cancelled`: no game server was allocated in time.
    pub const NO_SERVER: &str = "no_server";
    /// `match.cancelled`: the allocated game server went away.
    pub const SERVER_LOST: &str = "server_lost";
    /// `match.cancelled`: the allocated game server did not take the match in time.
    pub const NOT_STARTED: &str = "not_started";
    /// `match.cancelled`: a player declined the ready check.
    pub const DECLINED: &str = "declined";
    /// `match.cancelled`: the ready check expired before everyone accepted.
    pub const READY_TIMEOUT: &str = "ready_timeout";
    /// `party.left`: the player left by themselves.
    pub const LEFT: &str = "left";
    /// `party.left`: the party's leader removed the player.
    pub const KICKED: &str = "kicked";
    /// `party.left`: the player was away longer than the reconnect grace.
    pub const DISCONNECTED: &str = "disconnected";
}

/// Where a player stands in matchmaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Not queued.
    Idle,
    /// A ticket is waiting.
    Searching,
    /// A match was formed and is being started.
    Matched,
}

/// One kept message of a room (`room.history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryMessage {
    /// Sender.
    pub from: PlayerId,
    /// Payload.
    pub body: Body,
    /// When the gateway accepted it, ms since the Unix epoch.
    pub ts: u64,
    /// Its place in the room's history.
    pub offset: u64,
}

/// Whether a player is online (`presence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlayerPresence {
    /// A session of theirs is live on some gateway.
    pub online: bool,
    /// Now while online; else when their last session ended (kept 30 days), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
}

/// One player of a team, as announced in `match.found` and assignments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeamMember {
    /// The player.
    pub player: PlayerId,
    /// Their rating when the match was formed.
    pub rating: f64,
}

/// Teams of a match: `teams[i]` is team `i`.
pub type Teams = Vec<Vec<TeamMember>>;

/// The game server a match was allocated to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerEndpoint {
    /// Game server id.
    pub id: ServerId,
    /// `host:port` players connect to.
    pub address: String,
}

/// A server -> client message, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ServerMessage {
    // ---- Replies ----
    /// Reply to `ping`.
    #[serde(rename = "pong")]
    Pong {
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `profile.get`: the player's profile as cached.
    #[serde(rename = "profile")]
    Profile {
        /// The player.
        player: PlayerId,
        /// Display name.
        name: String,
        /// Current rating (after every result stored so far).
        rating: f64,
        /// Games played.
        games: u64,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `data.get`.
    #[serde(rename = "data")]
    Data {
        /// The kind asked for.
        kind: Id,
        /// The document id asked for.
        id: Id,
        /// The kind's version the document was read at (grows with every change).
        version: u64,
        /// The document, or null when the kind has no such document.
        document: Option<serde_json::Value>,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `queue.join`.
    #[serde(rename = "queue.joined")]
    QueueJoined {
        /// The new ticket.
        ticket: TicketId,
        /// Queue name.
        queue: QueueName,
        /// Region name.
        region: RegionName,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `queue.leave`.
    #[serde(rename = "queue.left")]
    QueueLeft {
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `queue.status`.
    #[serde(rename = "queue.status")]
    QueueStatus {
        /// Where the player stands.
        state: QueueState,
        /// Queue name, unless idle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<QueueName>,
        /// Region name, unless idle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<RegionName>,
        /// How long the ticket has waited, unless idle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waited_ms: Option<u64>,
        /// The match, when matched.
        #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
        match_id: Option<MatchId>,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `room.join`.
    #[serde(rename = "room.joined")]
    RoomJoined {
        /// Room id.
        room: RoomId,
        /// Member count, this player included.
        members: u32,
        /// Only for a join with `since`: whether every message after `since` follows
        /// (false: the history no longer reaches back that far, or the room keeps none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
        /// Only for a join without `since` of a room that keeps history: the room's latest
        /// offset now; every later message reaches this connection (a client keeps it as
        /// its `since` until a message brings a newer one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `room.leave`.
    #[serde(rename = "room.left")]
    RoomLeft {
        /// Room id.
        room: RoomId,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `room.history`: the room's kept messages, oldest first.
    #[serde(rename = "room.history")]
    RoomHistory {
        /// Room id.
        room: RoomId,
        /// Newest last.
        messages: Vec<HistoryMessage>,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `room.members`: a page of a room's members, sorted by id.
    #[serde(rename = "room.members")]
    RoomMembers {
        /// Room id.
        room: RoomId,
        /// At most [`crate::client::ROOM_MEMBERS_PAGE`] player ids.
        members: Vec<PlayerId>,
        /// Send it back in `room.members` for the next page; absent on the last page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<PlayerId>,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `presence.get`: each player asked about.
    #[serde(rename = "presence")]
    Presence {
        /// By player id.
        players: std::collections::BTreeMap<PlayerId, PlayerPresence>,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `block`: the player's whispers no longer reach this one.
    #[serde(rename = "blocked")]
    Blocked {
        /// The player blocked.
        player: PlayerId,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `unblock`.
    #[serde(rename = "unblocked")]
    Unblocked {
        /// The player unblocked.
        player: PlayerId,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `room.send`.
    #[serde(rename = "room.sent")]
    RoomSent {
        /// Room id.
        room: RoomId,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `whisper`.
    #[serde(rename = "whisper.sent")]
    WhisperSent {
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `party.create`, `party.accept`, `party.kick`, `party.promote` and
    /// `party.get`: the party as it is now.
    #[serde(rename = "party")]
    Party {
        /// Party id.
        party: PartyId,
        /// Its leader.
        leader: PlayerId,
        /// Its members, longest-standing first (the leader among them).
        members: Vec<PlayerId>,
        /// How many members it may have.
        max_size: u32,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `party.invite`: the invite is out (the invitee got `party.invite`).
    #[serde(rename = "party.invited")]
    PartyInvited {
        /// Party id.
        party: PartyId,
        /// The player invited.
        to: PlayerId,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Reply to `party.decline`.
    #[serde(rename = "party.declined")]
    PartyDeclined {
        /// Party id.
        party: PartyId,
        /// Echoed request id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// Where a match's ready check stands: the reply to `match.accept` / `match.decline`,
    /// and a push (no `rid`) to every player of the match after each answer.
    #[serde(rename = "match.ready_update")]
    MatchReadyUpdate {
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
        /// Players who accepted so far.
        accepted: u32,
        /// Players in the match.
        total: u32,
        /// Echoed request id (a reply only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
    /// The player is out of a party: the reply to `party.leave` (`reason` `left`), or a
    /// push (no `rid`) when a leader kicked them (`kicked`) or they were away longer than
    /// the reconnect grace (`disconnected`).
    #[serde(rename = "party.left")]
    PartyLeft {
        /// Party id.
        party: PartyId,
        /// Why, e.g. [`reason::KICKED`].
        reason: String,
        /// Echoed request id (a reply to `party.leave` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },

    // ---- Pushes ----
    /// First frame after the upgrade.
    #[serde(rename = "welcome")]
    Welcome {
        /// The authenticated player.
        player: PlayerId,
        /// This connection's session.
        session: SessionId,
        /// The gateway instance serving it.
        gateway: GatewayId,
        /// How often the client should ping.
        heartbeat_ms: u64,
    },
    /// A match is formed and a game server allocated for it.
    #[serde(rename = "match.found")]
    MatchFound {
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
        /// Queue name.
        queue: QueueName,
        /// Region name.
        region: RegionName,
        /// The teams.
        teams: Teams,
        /// Where to connect.
        server: ServerEndpoint,
        /// Proof for the game server that this player belongs to the match.
        join_token: String,
    },
    /// The match could not start.
    #[serde(rename = "match.cancelled")]
    MatchCancelled {
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
        /// Why, e.g. [`reason::NO_SERVER`].
        reason: String,
        /// Whether the player's ticket was put back in the queue.
        requeued: bool,
    },
    /// The ticket waited longer than the queue allows.
    #[serde(rename = "queue.timeout")]
    QueueTimeout {
        /// Queue name.
        queue: QueueName,
        /// How long it waited.
        waited_ms: u64,
    },
    /// Someone sent to a room this client joined.
    #[serde(rename = "room.message")]
    RoomMessage {
        /// Room id.
        room: RoomId,
        /// Sender.
        from: PlayerId,
        /// Payload.
        body: Body,
        /// When the gateway accepted it, ms since the Unix epoch.
        ts: u64,
        /// Its place in the room's history, in a room that keeps one: grows by one per
        /// message (pass the last one seen as `room.join`'s `since` to recover).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    /// Who joined and who left a room that keeps presence, since the last such push
    /// (coalesced: at most one per room per 250 ms from each gateway).
    #[serde(rename = "room.presence")]
    RoomPresence {
        /// Room id.
        room: RoomId,
        /// Players who joined.
        joined: Vec<PlayerId>,
        /// Players who left (or whose gateway went away).
        left: Vec<PlayerId>,
    },
    /// A direct message.
    #[serde(rename = "whisper")]
    Whisper {
        /// Sender.
        from: PlayerId,
        /// Payload.
        body: Body,
        /// When the gateway accepted it, ms since the Unix epoch.
        ts: u64,
    },
    /// A message from the studio's backend (the server API's `send` and `broadcast`).
    #[serde(rename = "notice")]
    Notice {
        /// Payload.
        body: Body,
        /// When a gateway accepted it, ms since the Unix epoch.
        ts: u64,
    },
    /// The socket is about to be closed (code 4001 for [`reason::SESSION_REPLACED`], 4005
    /// when the studio's backend disconnects the player, with its reason).
    #[serde(rename = "kicked")]
    Kicked {
        /// Why, e.g. [`reason::SESSION_REPLACED`].
        reason: String,
    },
    /// This gateway is draining; reconnect to any gateway after `after_ms`.
    #[serde(rename = "reconnect")]
    Reconnect {
        /// Why, e.g. [`reason::DRAINING`].
        reason: String,
        /// How long to wait first (spreads the reconnect storm).
        after_ms: u64,
    },
    /// A match was formed and waits for every player to accept it (`match.accept` or
    /// `match.decline`) before a server is spent on it.
    #[serde(rename = "match.ready_check")]
    MatchReadyCheck {
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
        /// Queue name.
        queue: QueueName,
        /// Region name.
        region: RegionName,
        /// The teams.
        teams: Teams,
        /// When the check closes, ms since the Unix epoch.
        expires_ms: u64,
    },
    /// Someone invited this player to their party: answer `party.accept` or
    /// `party.decline` before the invite expires.
    #[serde(rename = "party.invite")]
    PartyInvite {
        /// Party id.
        party: PartyId,
        /// Who invited.
        from: PlayerId,
    },
    /// The player's party changed (a member joined, left, was kicked, or the lead passed):
    /// its state now. Sent to every member.
    #[serde(rename = "party.updated")]
    PartyUpdated {
        /// Party id.
        party: PartyId,
        /// Its leader.
        leader: PlayerId,
        /// Its members, longest-standing first.
        members: Vec<PlayerId>,
    },
    /// A request failed; the connection stays open.
    #[serde(rename = "error")]
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// The failed request's `rid`, when it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<Rid>,
    },
}

/// Sorts a message into replies (which echo a `rid`) and pushes (which never carry one),
/// each variant named once: `match_rid!(message, rid => on_reply, on_push)` binds the
/// reply's `rid` field as `rid`. A new variant must be placed on one side to compile.
macro_rules! match_rid {
    ($message:expr, $rid:ident => $on_reply:expr, $on_push:expr) => {
        match $message {
            ServerMessage::Pong { rid: $rid }
            | ServerMessage::Profile { rid: $rid, .. }
            | ServerMessage::Data { rid: $rid, .. }
            | ServerMessage::QueueJoined { rid: $rid, .. }
            | ServerMessage::QueueLeft { rid: $rid }
            | ServerMessage::QueueStatus { rid: $rid, .. }
            | ServerMessage::RoomJoined { rid: $rid, .. }
            | ServerMessage::RoomLeft { rid: $rid, .. }
            | ServerMessage::RoomSent { rid: $rid, .. }
            | ServerMessage::RoomMembers { rid: $rid, .. }
            | ServerMessage::RoomHistory { rid: $rid, .. }
            | ServerMessage::Blocked { rid: $rid, .. }
            | ServerMessage::Unblocked { rid: $rid, .. }
            | ServerMessage::Presence { rid: $rid, .. }
            | ServerMessage::WhisperSent { rid: $rid }
            | ServerMessage::Party { rid: $rid, .. }
            | ServerMessage::PartyInvited { rid: $rid, .. }
            | ServerMessage::PartyDeclined { rid: $rid, .. }
            | ServerMessage::PartyLeft { rid: $rid, .. }
            | ServerMessage::MatchReadyUpdate { rid: $rid, .. }
            | ServerMessage::Error { rid: $rid, .. } => $on_reply,
            ServerMessage::Welcome { .. }
            | ServerMessage::MatchFound { .. }
            | ServerMessage::MatchCancelled { .. }
            | ServerMessage::QueueTimeout { .. }
            | ServerMessage::RoomMessage { .. }
            | ServerMessage::RoomPresence { .. }
            | ServerMessage::Whisper { .. }
            | ServerMessage::Notice { .. }
            | ServerMessage::Kicked { .. }
            | ServerMessage::Reconnect { .. }
            | ServerMessage::PartyInvite { .. }
            | ServerMessage::PartyUpdated { .. }
            | ServerMessage::MatchReadyCheck { .. } => $on_push,
        }
    };
}

impl ServerMessage {
    /// Every `type` a server may send.
    pub const TYPES: [&'static str; 34] = [
        "pong",
        "profile",
        "data",
        "queue.joined",
        "queue.left",
        "queue.status",
        "room.joined",
        "room.left",
        "room.sent",
        "room.members",
        "room.history",
        "presence",
        "blocked",
        "unblocked",
        "whisper.sent",
        "party",
        "party.invited",
        "party.declined",
        "party.left",
        "welcome",
        "match.found",
        "match.cancelled",
        "queue.timeout",
        "room.message",
        "room.presence",
        "whisper",
        "notice",
        "kicked",
        "reconnect",
        "party.invite",
        "party.updated",
        "match.ready_check",
        "match.ready_update",
        "error",
    ];

    /// An `error` message.
    pub fn error(code: ErrorCode, message: impl Into<String>, rid: Option<Rid>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            rid,
        }
    }

    /// The wire `type` (bounded set, usable as a metrics label).
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Pong { .. } => "pong",
            ServerMessage::Profile { .. } => "profile",
            ServerMessage::Data { .. } => "data",
            ServerMessage::QueueJoined { .. } => "queue.joined",
            ServerMessage::QueueLeft { .. } => "queue.left",
            ServerMessage::QueueStatus { .. } => "queue.status",
            ServerMessage::RoomJoined { .. } => "room.joined",
            ServerMessage::RoomLeft { .. } => "room.left",
            ServerMessage::RoomSent { .. } => "room.sent",
            ServerMessage::RoomMembers { .. } => "room.members",
            ServerMessage::RoomHistory { .. } => "room.history",
            ServerMessage::Blocked { .. } => "blocked",
            ServerMessage::Unblocked { .. } => "unblocked",
            ServerMessage::Presence { .. } => "presence",
            ServerMessage::WhisperSent { .. } => "whisper.sent",
            ServerMessage::Welcome { .. } => "welcome",
            ServerMessage::MatchFound { .. } => "match.found",
            ServerMessage::MatchCancelled { .. } => "match.cancelled",
            ServerMessage::QueueTimeout { .. } => "queue.timeout",
            ServerMessage::RoomMessage { .. } => "room.message",
            ServerMessage::RoomPresence { .. } => "room.presence",
            ServerMessage::Whisper { .. } => "whisper",
            ServerMessage::Notice { .. } => "notice",
            ServerMessage::Kicked { .. } => "kicked",
            ServerMessage::Reconnect { .. } => "reconnect",
            ServerMessage::Party { .. } => "party",
            ServerMessage::PartyInvited { .. } => "party.invited",
            ServerMessage::PartyDeclined { .. } => "party.declined",
            ServerMessage::PartyLeft { .. } => "party.left",
            ServerMessage::PartyInvite { .. } => "party.invite",
            ServerMessage::PartyUpdated { .. } => "party.updated",
            ServerMessage::MatchReadyCheck { .. } => "match.ready_check",
            ServerMessage::MatchReadyUpdate { .. } => "match.ready_update",
            ServerMessage::Error { .. } => "error",
        }
    }

    /// The same reply with `rid` echoed; pushes are returned unchanged (they never carry
    /// one).
    pub fn with_rid(mut self, new: Option<Rid>) -> Self {
        match_rid!(&mut self, rid => *rid = new, ());
        self
    }

    /// The echoed `rid` of a reply or error; `None` for pushes.
    pub fn rid(&self) -> Option<&Rid> {
        match_rid!(self, rid => rid.as_ref(), None)
    }
}
