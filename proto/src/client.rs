//! Requests a game client sends to a gateway (PROTOCOL.md section 1, "Client -> server").
//!
//! Decoding goes through [`crate::decode_request`]: the input is parsed once into a generic
//! value, then `rid` and `type` are read first so that any later failure can still echo the
//! `rid` and an unknown `type` is reported as `unknown_type`, not `bad_request`.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::body::Body;
use crate::error::{DecodeError, RequestError};
use crate::fields::Fields;
use crate::ids::{Id, MatchId, PartyId, PlayerId, QueueName, RegionName, RoomId};
use crate::rid::Rid;

/// One request frame: the request itself plus the optional `rid` to echo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// What the client asks for.
    #[serde(flatten)]
    pub body: ClientRequest,
    /// Echoed in the reply when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<Rid>,
}

impl Request {
    /// A request without `rid`.
    pub fn new(body: ClientRequest) -> Self {
        Request { body, rid: None }
    }

    /// A request with a `rid`.
    pub fn with_rid(body: ClientRequest, rid: Rid) -> Self {
        Request {
            body,
            rid: Some(rid),
        }
    }

    /// Decodes a request from an already parsed value.
    pub fn from_value(value: Value) -> Result<Self, RequestError> {
        let Value::Object(map) = value else {
            return Err(DecodeError::NotAnObject.into());
        };
        let mut fields = Fields::new(map);
        // An invalid `rid` fails the request and cannot be echoed.
        let rid: Option<Rid> = fields.take_opt("rid")?;
        match ClientRequest::from_fields(&mut fields) {
            Ok(body) => Ok(Request { body, rid }),
            Err(error) => Err(RequestError { rid, error }),
        }
    }
}

/// Goes through [`Request::from_value`] so that serde users get the same checks as the codec.
impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Request::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Players one `presence.get` may ask about.
pub const MAX_PRESENCE_PLAYERS: usize = 100;
/// Messages per `room.history` reply at most (and by default).
pub const ROOM_HISTORY_PAGE: u32 = 100;
/// Members per `room.members` page.
pub const ROOM_MEMBERS_PAGE: usize = 100;

/// A client request, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ClientRequest {
    /// Liveness check; answered with `pong`.
    #[serde(rename = "ping")]
    Ping,
    /// Enter a matchmaking queue; answered with `queue.joined`.
    #[serde(rename = "queue.join")]
    QueueJoin {
        /// Queue name.
        queue: QueueName,
        /// Region name.
        region: RegionName,
    },
    /// Leave the queue; answered with `queue.left`.
    #[serde(rename = "queue.leave")]
    QueueLeave,
    /// Ask where the ticket stands; answered with `queue.status`.
    #[serde(rename = "queue.status")]
    QueueStatus,
    /// Join a chat room; answered with `room.joined`.
    #[serde(rename = "room.join")]
    RoomJoin {
        /// Room id.
        room: RoomId,
        /// In a room that keeps history: the offset of the last message seen; every
        /// later one follows the reply, in order, before live ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// The kept messages of a room the player is in; answered with `room.history`.
    #[serde(rename = "room.history")]
    RoomHistory {
        /// Room id.
        room: RoomId,
        /// Only messages before this offset (paging back); absent: the newest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// At most this many (1..=[`ROOM_HISTORY_PAGE`], the default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Leave a chat room; answered with `room.left`.
    #[serde(rename = "room.leave")]
    RoomLeave {
        /// Room id.
        room: RoomId,
    },
    /// The members of a room the player is in, a page at a time (sorted by id); answered
    /// with `room.members`.
    #[serde(rename = "room.members")]
    RoomMembers {
        /// Room id.
        room: RoomId,
        /// The previous page's `cursor`, for the next page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<PlayerId>,
    },
    /// Whether players are online, and when they were last seen; answered with
    /// `presence`.
    #[serde(rename = "presence.get")]
    PresenceGet {
        /// At most [`MAX_PRESENCE_PLAYERS`] player ids.
        players: Vec<PlayerId>,
    },
    /// Stop getting whispers from a player (kept across sessions); answered with
    /// `blocked`.
    #[serde(rename = "block")]
    Block {
        /// The player blocked.
        player: PlayerId,
    },
    /// Get whispers from a blocked player again; answered with `unblocked`.
    #[serde(rename = "unblock")]
    Unblock {
        /// The player unblocked.
        player: PlayerId,
    },
    /// Send to every member of a room; answered with `room.sent`.
    #[serde(rename = "room.send")]
    RoomSend {
        /// Room id.
        room: RoomId,
        /// Payload, at most 4 KiB as JSON.
        body: Body,
    },
    /// Send to one player; answered with `whisper.sent`.
    #[serde(rename = "whisper")]
    Whisper {
        /// Target player.
        to: PlayerId,
        /// Payload, at most 4 KiB as JSON.
        body: Body,
    },
    /// The player's own profile (name, rating, games played); answered with `profile`.
    #[serde(rename = "profile.get")]
    ProfileGet,
    /// One document of static game data; answered with `data`.
    #[serde(rename = "data.get")]
    DataGet {
        /// The kind of data (`items`, `maps`, ...).
        kind: Id,
        /// The document's id within its kind.
        id: Id,
    },
    /// Start a party led by this player; answered with `party`.
    #[serde(rename = "party.create")]
    PartyCreate,
    /// Invite a player to this player's party; answered with `party.invited`.
    #[serde(rename = "party.invite")]
    PartyInvite {
        /// The player invited.
        to: PlayerId,
    },
    /// Join a party one was invited to; answered with `party`.
    #[serde(rename = "party.accept")]
    PartyAccept {
        /// The party.
        party: PartyId,
    },
    /// Turn an invite down; answered with `party.declined`.
    #[serde(rename = "party.decline")]
    PartyDecline {
        /// The party.
        party: PartyId,
    },
    /// Leave one's party; answered with `party.left`.
    #[serde(rename = "party.leave")]
    PartyLeave,
    /// Remove a member (leader only); answered with `party`.
    #[serde(rename = "party.kick")]
    PartyKick {
        /// The member removed.
        player: PlayerId,
    },
    /// Hand the lead to a member (leader only); answered with `party`.
    #[serde(rename = "party.promote")]
    PartyPromote {
        /// The new leader.
        player: PlayerId,
    },
    /// One's party as it is now; answered with `party`.
    #[serde(rename = "party.get")]
    PartyGet,
    /// Accept a formed match's ready check; answered with `match.ready_update`.
    #[serde(rename = "match.accept")]
    MatchAccept {
        /// The match.
        #[serde(rename = "match")]
        match_id: MatchId,
    },
    /// Decline a formed match's ready check; answered with `match.ready_update`.
    #[serde(rename = "match.decline")]
    MatchDecline {
        /// The match.
        #[serde(rename = "match")]
        match_id: MatchId,
    },
}

impl ClientRequest {
    /// Every `type` a client may send.
    pub const TYPES: [&'static str; 25] = [
        "ping",
        "queue.join",
        "queue.leave",
        "queue.status",
        "room.join",
        "room.leave",
        "room.members",
        "room.history",
        "presence.get",
        "block",
        "unblock",
        "room.send",
        "whisper",
        "profile.get",
        "data.get",
        "party.create",
        "party.invite",
        "party.accept",
        "party.decline",
        "party.leave",
        "party.kick",
        "party.promote",
        "party.get",
        "match.accept",
        "match.decline",
    ];

    /// The wire `type` (bounded set, usable as a metrics label).
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientRequest::Ping => "ping",
            ClientRequest::QueueJoin { .. } => "queue.join",
            ClientRequest::QueueLeave => "queue.leave",
            ClientRequest::QueueStatus => "queue.status",
            ClientRequest::RoomJoin { .. } => "room.join",
            ClientRequest::RoomLeave { .. } => "room.leave",
            ClientRequest::RoomMembers { .. } => "room.members",
            ClientRequest::RoomHistory { .. } => "room.history",
            ClientRequest::PresenceGet { .. } => "presence.get",
            ClientRequest::Block { .. } => "block",
            ClientRequest::Unblock { .. } => "unblock",
            ClientRequest::RoomSend { .. } => "room.send",
            ClientRequest::Whisper { .. } => "whisper",
            ClientRequest::ProfileGet => "profile.get",
            ClientRequest::DataGet { .. } => "data.get",
            ClientRequest::PartyCreate => "party.create",
            ClientRequest::PartyInvite { .. } => "party.invite",
            ClientRequest::PartyAccept { .. } => "party.accept",
            ClientRequest::PartyDecline { .. } => "party.decline",
            ClientRequest::PartyLeave => "party.leave",
            ClientRequest::PartyKick { .. } => "party.kick",
            ClientRequest::PartyPromote { .. } => "party.promote",
            ClientRequest::PartyGet => "party.get",
            ClientRequest::MatchAccept { .. } => "match.accept",
            ClientRequest::MatchDecline { .. } => "match.decline",
        }
    }

    /// Unknown fields stay in `fields` and are ignored.
    fn from_fields(fields: &mut Fields) -> Result<Self, DecodeError> {
        let ty = fields.type_tag()?;
        Ok(match ty.as_str() {
            "ping" => ClientRequest::Ping,
            "queue.join" => ClientRequest::QueueJoin {
                queue: fields.take("queue")?,
                region: fields.take("region")?,
            },
            "queue.leave" => ClientRequest::QueueLeave,
            "queue.status" => ClientRequest::QueueStatus,
            "room.join" => ClientRequest::RoomJoin {
                room: fields.take("room")?,
                since: fields.take_opt("since")?,
            },
            "room.history" => ClientRequest::RoomHistory {
                room: fields.take("room")?,
                before: fields.take_opt("before")?,
                limit: fields.take_opt("limit")?,
            },
            "room.leave" => ClientRequest::RoomLeave {
                room: fields.take("room")?,
            },
            "room.members" => ClientRequest::RoomMembers {
                room: fields.take("room")?,
                cursor: fields.take_opt("cursor")?,
            },
            "presence.get" => ClientRequest::PresenceGet {
                players: fields.take("players")?,
            },
            "block" => ClientRequest::Block {
                player: fields.take("player")?,
            },
            "unblock" => ClientRequest::Unblock {
                player: fields.take("player")?,
            },
            "room.send" => ClientRequest::RoomSend {
                room: fields.take("room")?,
                body: fields.body("body")?,
            },
            "whisper" => ClientRequest::Whisper {
                to: fields.take("to")?,
                body: fields.body("body")?,
            },
            "profile.get" => ClientRequest::ProfileGet,
            "data.get" => ClientRequest::DataGet {
                kind: fields.take("kind")?,
                id: fields.take("id")?,
            },
            "party.create" => ClientRequest::PartyCreate,
            "party.invite" => ClientRequest::PartyInvite {
                to: fields.take("to")?,
            },
            "party.accept" => ClientRequest::PartyAccept {
                party: fields.take("party")?,
            },
            "party.decline" => ClientRequest::PartyDecline {
                party: fields.take("party")?,
            },
            "party.leave" => ClientRequest::PartyLeave,
            "party.kick" => ClientRequest::PartyKick {
                player: fields.take("player")?,
            },
            "party.promote" => ClientRequest::PartyPromote {
                player: fields.take("player")?,
            },
            "party.get" => ClientRequest::PartyGet,
            "match.accept" => ClientRequest::MatchAccept {
                match_id: fields.take("match")?,
            },
            "match.decline" => ClientRequest::MatchDecline {
                match_id: fields.take("match")?,
            },
            other => return Err(DecodeError::unknown_type(other)),
        })
    }
}
