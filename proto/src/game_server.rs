//! HTTP bodies between game servers and the server pool (PROTOCOL.md section 2), with the
//! checks serde cannot express (ranges, `host:port`, duplicate players).
//!
//! Ids are already valid once deserialised; `validate` covers the rest and names the field,
//! so a 400 answer tells the game-server developer exactly what to fix.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv6Addr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{Id, MatchId, PlayerId, QueueName, RegionName, ServerId};
use crate::server::Teams;

/// Most concurrent games one game server may announce.
pub const MAX_CAPACITY: u32 = 1024;
/// Most labels on one game server.
pub const MAX_LABELS: usize = 32;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE_LEN: usize = 256;
/// Longest `address`, in bytes (a DNS name is at most 253).
pub const MAX_ADDRESS_LEN: usize = 261;
/// Most players in one match result.
pub const MAX_RESULT_PLAYERS: usize = 1024;

/// A request body failed validation: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {reason}")]
pub struct ValidationError {
    /// The field, e.g. `capacity` or `placements[1][0]`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `POST /v1/servers`: a game server joins the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegisterServer {
    /// Chosen by the game server; registering again with the same id replaces the entry.
    pub id: ServerId,
    /// Region it serves.
    pub region: RegionName,
    /// `host:port` players connect to.
    pub address: String,
    /// Concurrent games it can run, 1..=[`MAX_CAPACITY`].
    pub capacity: u32,
    /// Free-form labels (e.g. `{"map_pool":"ranked"}`); keys follow the id rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A body that has rules beyond its shape: the pool API checks them after parsing, and
/// answers `400 bad_request` naming the field when one fails.
pub trait Validate {
    /// Checks what serde does not (ranges, formats, duplicates).
    fn validate(&self) -> Result<(), ValidationError>;
}

impl Validate for RegisterServer {
    /// Checks ranges and formats serde does not.
    fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(ValidationError::new(
                "capacity",
                format!("must be 1..={MAX_CAPACITY}, got {}", self.capacity),
            ));
        }
        check_address(&self.address).map_err(|reason| ValidationError::new("address", reason))?;
        if self.labels.len() > MAX_LABELS {
            return Err(ValidationError::new(
                "labels",
                format!("at most {MAX_LABELS} labels, got {}", self.labels.len()),
            ));
        }
        for (key, value) in &self.labels {
            Id::parse(key).map_err(|e| ValidationError::new("labels", format!("key: {e}")))?;
            if value.len() > MAX_LABEL_VALUE_LEN {
                return Err(ValidationError::new(
                    format!("labels.{key}"),
                    format!("at most {MAX_LABEL_VALUE_LEN} bytes"),
                ));
            }
        }
        Ok(())
    }
}

/// `host:port` with a non-zero port; the host is a DNS name, an IPv4 address or a bracketed
/// IPv6 address. Nothing is resolved: the pool hands the string to players as is.
fn check_address(address: &str) -> Result<(), String> {
    if address.len() > MAX_ADDRESS_LEN {
        return Err(format!("at most {MAX_ADDRESS_LEN} bytes"));
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("must be host:port".to_owned());
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 && !port.starts_with('+') => {}
        _ => return Err(format!("port must be 1..=65535, got {port:?}")),
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "host is not a valid IPv6 address".to_owned());
    }
    let name_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if name_ok {
        Ok(())
    } else {
        Err("host must be a DNS name, an IPv4 address or a bracketed IPv6 address".to_owned())
    }
}

/// `201` answer to [`RegisterServer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Registered {
    /// The registered id.
    pub id: ServerId,
    /// How often to heartbeat; missing a few gets the server dropped.
    pub heartbeat_interval_ms: u64,
    /// This server's own credential: every later call for it (heartbeat, assignments,
    /// ack, result, leave) sends `Authorization: Bearer <server_token>`. The pool keeps
    /// only its hash, so it is shown once; a server that loses it registers again.
    pub server_token: String,
    /// Which registration of this id this is: a server restarted under the same id gets
    /// a higher one, and the games of the one before end as `server_lost`.
    pub incarnation: u64,
}

/// `POST /v1/servers/{id}/heartbeat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Heartbeat {
    /// Games running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_games: Option<u32>,
    /// Players connected now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub players: Option<u32>,
    /// The matches this server is running now. When sent, a started match the pool has on
    /// this server that two heartbeats in a row leave out is ended as `server_lost` (the
    /// server lost it, e.g. by a restart), so its players are freed and its slot given back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub games: Option<Vec<MatchId>>,
}

impl Validate for Heartbeat {
    /// Checks the counts are plausible for any registered server.
    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(n) = self.active_games.filter(|n| *n > MAX_CAPACITY) {
            return Err(ValidationError::new(
                "active_games",
                format!("at most {MAX_CAPACITY}, got {n}"),
            ));
        }
        if let Some(games) = self
            .games
            .as_ref()
            .filter(|g| g.len() > MAX_CAPACITY as usize)
        {
            return Err(ValidationError::new(
                "games",
                format!("at most {MAX_CAPACITY} matches, got {}", games.len()),
            ));
        }
        Ok(())
    }
}

/// A match allocated to a game server: what `match.found` told the players.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    /// Match id.
    #[serde(rename = "match")]
    pub match_id: MatchId,
    /// Queue name.
    pub queue: QueueName,
    /// Region name.
    pub region: RegionName,
    /// The teams.
    pub teams: Teams,
    /// Optional hint identifying which join-token secret is in use (for key rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hint: Option<String>,
    /// Players who joined the running match by backfill (they are in `teams` too). A
    /// match the server runs already comes back in its assignments when a backfill
    /// adds players; acknowledging it again takes the update. Only sent when not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backfilled: Vec<PlayerId>,
}

/// Most slots one backfill request may name.
pub const MAX_BACKFILL_SLOTS: usize = 16;

/// `POST /v1/matches/{match}/backfill`: the server asks for players for a running match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackfillRequest {
    /// How many players each team needs.
    pub slots: Vec<BackfillSlot>,
}

/// Players wanted on one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackfillSlot {
    /// The team's index in the match's `teams`.
    pub team: u32,
    /// How many players it needs (at least 1, at most the team's size).
    pub count: u32,
}

impl Validate for BackfillRequest {
    /// At least one slot, each team named once, each count at least 1 (what fits the
    /// match's teams is checked against the match).
    fn validate(&self) -> Result<(), ValidationError> {
        if self.slots.is_empty() || self.slots.len() > MAX_BACKFILL_SLOTS {
            return Err(ValidationError::new(
                "slots",
                format!("must name 1..={MAX_BACKFILL_SLOTS} teams"),
            ));
        }
        let mut teams = HashSet::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.count == 0 {
                return Err(ValidationError::new(
                    format!("slots[{i}].count"),
                    "must be at least 1",
                ));
            }
            if !teams.insert(slot.team) {
                return Err(ValidationError::new(
                    format!("slots[{i}].team"),
                    format!("team {} is named twice", slot.team),
                ));
            }
        }
        Ok(())
    }
}

/// `202` answer to a backfill request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackfillAccepted {
    /// The request's id (a new request for the same match replaces it).
    pub backfill: String,
}

/// Answer to a heartbeat and to `GET /v1/servers/{id}/assignments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssignmentsReply {
    /// Pending assignments, possibly none.
    pub assignments: Vec<Assignment>,
    /// The server is draining (an operator asked): it gets no new games and leaves the
    /// pool when its last one ends. Only sent when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
}

/// A heartbeat answer has the same shape as a long-poll answer.
pub type HeartbeatReply = AssignmentsReply;

/// `POST /v1/matches/{match}/result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatchResult {
    /// Player ids grouped by placement, best first (ties share a group).
    pub placements: Vec<Vec<PlayerId>>,
    /// Free-form game statistics, stored as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Value>,
}

impl Validate for MatchResult {
    /// Placements must be non-empty, without empty groups or a player listed twice.
    fn validate(&self) -> Result<(), ValidationError> {
        if self.placements.is_empty() {
            return Err(ValidationError::new("placements", "must not be empty"));
        }
        let mut seen = HashSet::new();
        for (i, group) in self.placements.iter().enumerate() {
            if group.is_empty() {
                return Err(ValidationError::new(
                    format!("placements[{i}]"),
                    "must not be empty",
                ));
            }
            for (j, player) in group.iter().enumerate() {
                if seen.len() >= MAX_RESULT_PLAYERS {
                    return Err(ValidationError::new(
                        "placements",
                        format!("at most {MAX_RESULT_PLAYERS} players"),
                    ));
                }
                if !seen.insert(player) {
                    return Err(ValidationError::new(
                        format!("placements[{i}][{j}]"),
                        format!("player {player} is listed twice"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Error body of every non-2xx answer, e.g. `{"error":"unauthorized","message":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HttpError {
    /// Short machine-readable code (`unauthorized`, `bad_request`, `not_found`, ...).
    pub error: String,
    /// Human-readable detail.
    pub message: String,
}

impl HttpError {
    /// An error body.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        HttpError {
            error: error.into(),
            message: message.into(),
        }
    }

    /// The 401 body for a missing or invalid token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new("unauthorized", message)
    }
}

impl From<ValidationError> for HttpError {
    fn from(e: ValidationError) -> Self {
        Self::new("bad_request", e.to_string())
    }
}
