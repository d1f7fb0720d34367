//! Events services publish to each other over Redis pub/sub, MessagePack with named fields.
//!
//! Every event travels in an [`EventEnvelope`] whose version lets a consumer refuse what it
//! does not understand, and whose `trace` carries W3C trace context across the hop. New events
//! are new [`Event`] variants; new optional fields keep `#[serde(default)]` so mixed versions
//! of a service can run side by side during a deploy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::ids::{ConnId, GatewayId, MatchId, PlayerId, QueueName, RegionName, RoomId, ServerId};
use crate::server::ServerMessage;

/// The envelope version this build writes and reads.
pub const EVENT_VERSION: u8 = 1;

/// One change of a player's block list, as the gateway leaves it in the cache-warmer's
/// outbox (`{warm}:block-changes`, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockChange {
    /// The player whose list changes.
    pub player: PlayerId,
    /// The player blocked or unblocked.
    pub other: PlayerId,
    /// Blocked (true) or unblocked.
    pub block: bool,
}

/// What goes on the wire for every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Envelope version, [`EVENT_VERSION`].
    pub v: u8,
    /// W3C trace context carrier (`traceparent`, `tracestate`), when the sender traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<BTreeMap<String, String>>,
    /// When it was published, ms since the Unix epoch (lets consumers measure pub/sub lag).
    pub sent_ms: u64,
    /// The event.
    pub event: Event,
    /// A room message's place in its room's history: added by the script that keeps the
    /// history and publishes the message (`room_publish.lua` appends it to the encoded
    /// envelope), so every gateway and the history agree on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl EventEnvelope {
    /// A current-version envelope without trace context.
    pub fn new(event: Event, sent_ms: u64) -> Self {
        EventEnvelope {
            v: EVENT_VERSION,
            trace: None,
            sent_ms,
            event,
            offset: None,
        }
    }

    /// Attaches a trace context carrier.
    pub fn with_trace(mut self, trace: BTreeMap<String, String>) -> Self {
        self.trace = Some(trace);
        self
    }
}

/// An inter-service event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A push for a player's inbox; the gateway(s) holding the player's socket send it.
    Deliver {
        /// Recipient.
        player: PlayerId,
        /// Only this connection of the player, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<ConnId>,
        /// What to send.
        message: ServerMessage,
    },
    /// Sent to a player's inbox when they connect again: the gateway holding the old socket
    /// (any connection other than `new_conn`) kicks it with close code 4001.
    SessionReplaced {
        /// The player.
        player: PlayerId,
        /// The connection that stays.
        new_conn: ConnId,
        /// The gateway that holds it.
        new_gateway: GatewayId,
    },
    /// Members of a room that keeps presence joined or left (a gateway's join, leave, or
    /// its pruning of a dead gateway's members), for every gateway with members there.
    RoomPresence {
        /// Room id.
        room: RoomId,
        /// Players who joined.
        joined: Vec<PlayerId>,
        /// Players who left (or whose membership lapsed).
        left: Vec<PlayerId>,
    },
    /// Cache-warmer -> the gateway holding the player: their block list as loaded from
    /// PostgreSQL (a connection that opened before it was in Redis takes it).
    Blocks {
        /// The player.
        player: PlayerId,
        /// Who they blocked.
        blocked: Vec<PlayerId>,
    },
    /// A message for every member of a room, wherever connected.
    RoomMessage {
        /// Room id.
        room: RoomId,
        /// Sender.
        from: PlayerId,
        /// Payload.
        body: Body,
        /// When the gateway accepted it, ms since the Unix epoch.
        ts: u64,
    },
    /// Matchmaker -> server pool: matches wait for a game server in `region` (sent once
    /// for all the matches handed over together; it names one of them).
    MatchFormed {
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
        /// Queue name.
        queue: QueueName,
        /// Region name.
        region: RegionName,
    },
    /// A game server has a pending assignment: wakes its long poll on whichever instance.
    AssignmentReady {
        /// Game server id.
        server: ServerId,
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
    },
    /// Server API -> every gateway: a message for every connected player (one event per
    /// gateway, on the broadcast channel, not one per player).
    Broadcast {
        /// What every player gets.
        message: ServerMessage,
    },
    /// Server API -> the gateway holding the player: close their socket (4005) after
    /// telling them why (`kicked`).
    Disconnect {
        /// The player.
        player: PlayerId,
        /// Why, as the studio's backend said.
        reason: String,
    },
    /// Server API -> the gateway holding the player: the player is muted until `until_ms`
    /// (0: no longer muted).
    Mute {
        /// The player.
        player: PlayerId,
        /// Until when, ms since the Unix epoch; 0 lifts it.
        until_ms: u64,
    },
    /// Matchmaker -> server pool: players were added to a running match by backfill; the
    /// pool announces them (`match.found`) and tells the match's server.
    MatchBackfilled {
        /// Match id.
        #[serde(rename = "match")]
        match_id: MatchId,
        /// Region name.
        region: RegionName,
    },
    /// Drop cached data: one dataset (or all when `None`) for these players (or all when empty).
    CacheInvalidate {
        /// Dataset name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dataset: Option<String>,
        /// Players concerned.
        #[serde(default)]
        players: Vec<PlayerId>,
    },
    /// Load these players' profiles into the cache ahead of need (e.g. a match was formed).
    WarmProfiles {
        /// Players concerned.
        players: Vec<PlayerId>,
    },
}

impl Event {
    /// Every event `type`.
    pub const TYPES: [&'static str; 13] = [
        "deliver",
        "session_replaced",
        "room_message",
        "room_presence",
        "blocks",
        "match_formed",
        "assignment_ready",
        "match_backfilled",
        "broadcast",
        "disconnect",
        "mute",
        "cache_invalidate",
        "warm_profiles",
    ];

    /// The wire `type` (bounded set, usable as a metrics label).
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Deliver { .. } => "deliver",
            Event::SessionReplaced { .. } => "session_replaced",
            Event::RoomMessage { .. } => "room_message",
            Event::RoomPresence { .. } => "room_presence",
            Event::Blocks { .. } => "blocks",
            Event::MatchFormed { .. } => "match_formed",
            Event::AssignmentReady { .. } => "assignment_ready",
            Event::MatchBackfilled { .. } => "match_backfilled",
            Event::Broadcast { .. } => "broadcast",
            Event::Disconnect { .. } => "disconnect",
            Event::Mute { .. } => "mute",
            Event::CacheInvalidate { .. } => "cache_invalidate",
            Event::WarmProfiles { .. } => "warm_profiles",
        }
    }
}
