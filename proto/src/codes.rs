//! Protocol error codes (`error.code`) and the WebSocket close codes the gateway uses.
//!
//! Clients branch on these, so the set is exactly what PROTOCOL.md lists; adding one is a
//! protocol change.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `code` of an `error` push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON/MessagePack, or a field is wrong.
    BadRequest,
    /// The `type` is not one the server knows.
    UnknownType,
    /// The client sends too fast.
    RateLimited,
    /// `queue.join` while a ticket is already waiting.
    AlreadyQueued,
    /// `queue.leave` without a ticket.
    NotQueued,
    /// No such queue.
    UnknownQueue,
    /// No such region.
    UnknownRegion,
    /// The whisper target is not connected.
    NotOnline,
    /// The frame or a body is over its size limit.
    TooLarge,
    /// A dependency is down; the client should retry.
    Unavailable,
    /// A bug on our side.
    Internal,
    /// A party request only its leader may make (`party.kick`, `party.promote`).
    NotLeader,
    /// The party has as many members as it may have.
    PartyFull,
    /// `party.accept` without a live invite to that party (never invited, declined,
    /// expired, or no such party).
    NotInvited,
    /// Already in a party (leave it first), or the invitee is already a member.
    AlreadyInParty,
    /// A party change refused while the player waits in a queue (`queue.leave` first).
    InQueue,
    /// A party request from a player in no party, or naming a player not in the party.
    NotInParty,
    /// The invitee has as many pending invites as a player may have.
    TooManyInvites,
    /// `queue.join` by a party larger than the queue's team size.
    PartyTooLarge,
    /// `queue.join` during the cool-down after declining (or not answering) a ready check.
    Cooldown,
    /// `match.accept` / `match.decline` for a match without a ready check of this player.
    UnknownMatch,
    /// `room.send` or `whisper` while the studio's backend has muted the player.
    Muted,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownType,
        ErrorCode::RateLimited,
        ErrorCode::AlreadyQueued,
        ErrorCode::NotQueued,
        ErrorCode::UnknownQueue,
        ErrorCode::UnknownRegion,
        ErrorCode::NotOnline,
        ErrorCode::TooLarge,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::NotLeader,
        ErrorCode::PartyFull,
        ErrorCode::NotInvited,
        ErrorCode::AlreadyInParty,
        ErrorCode::InQueue,
        ErrorCode::NotInParty,
        ErrorCode::TooManyInvites,
        ErrorCode::PartyTooLarge,
        ErrorCode::Cooldown,
        ErrorCode::UnknownMatch,
        ErrorCode::Muted,
    ];

    /// The wire spelling, e.g. `"bad_request"` (also handy as a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::AlreadyQueued => "already_queued",
            ErrorCode::NotQueued => "not_queued",
            ErrorCode::UnknownQueue => "unknown_queue",
            ErrorCode::UnknownRegion => "unknown_region",
            ErrorCode::NotOnline => "not_online",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::NotLeader => "not_leader",
            ErrorCode::PartyFull => "party_full",
            ErrorCode::NotInvited => "not_invited",
            ErrorCode::AlreadyInParty => "already_in_party",
            ErrorCode::InQueue => "in_queue",
            ErrorCode::NotInParty => "not_in_party",
            ErrorCode::TooManyInvites => "too_many_invites",
            ErrorCode::PartyTooLarge => "party_too_large",
            ErrorCode::Cooldown => "cooldown",
            ErrorCode::UnknownMatch => "unknown_match",
            ErrorCode::Muted => "muted",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the gateway sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1008: repeated abuse (e.g. rate limit exceeded again and again).
    PolicyViolation,
    /// 1009: a frame over the size limit.
    TooLarge,
    /// 1011: an internal error.
    Internal,
    /// 4001: the same player connected again elsewhere.
    SessionReplaced,
    /// 4002: this gateway is draining; reconnect to any gateway.
    Draining,
    /// 4003: the client did not read its messages fast enough and its outbound queue filled
    /// up; reconnect and catch up with `queue.status`.
    TooSlow,
    /// 4004: no frame (not even a `ping`) arrived within the idle timeout; ping every
    /// `welcome.heartbeat_ms`.
    IdleTimeout,
    /// 4005: the studio's backend disconnected the player (server API); the `kicked` push
    /// before it says why. Reconnecting is allowed unless the studio says otherwise.
    Kicked,
}

impl CloseCode {
    /// Every close code.
    pub const ALL: [CloseCode; 8] = [
        CloseCode::PolicyViolation,
        CloseCode::TooLarge,
        CloseCode::Internal,
        CloseCode::SessionReplaced,
        CloseCode::Draining,
        CloseCode::TooSlow,
        CloseCode::IdleTimeout,
        CloseCode::Kicked,
    ];

    /// The numeric code put in the close frame.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::PolicyViolation => 1008,
            CloseCode::TooLarge => 1009,
            CloseCode::Internal => 1011,
            CloseCode::SessionReplaced => 4001,
            CloseCode::Draining => 4002,
            CloseCode::TooSlow => 4003,
            CloseCode::IdleTimeout => 4004,
            CloseCode::Kicked => 4005,
        }
    }

    /// The close code for a number, if it is one of ours.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// A short reason for the close frame (well under the 123-byte limit).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::PolicyViolation => "policy violation",
            CloseCode::TooLarge => "frame too large",
            CloseCode::Internal => "internal error",
            CloseCode::SessionReplaced => "session replaced",
            CloseCode::Draining => "draining",
            CloseCode::TooSlow => "too slow",
            CloseCode::IdleTimeout => "idle timeout",
            CloseCode::Kicked => "disconnected by the server",
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.code()
    }
}
