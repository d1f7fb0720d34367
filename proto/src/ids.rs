//! Validated id strings: every id in the protocol is 1 to 64 characters of `[A-Za-z0-9_.:-]`.
//!
//! Ids end up in Redis keys, log lines and URLs, so they are checked once where they enter
//! (deserialisation or [`Id::parse`]) and an [`Id`] is valid by construction afterwards.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest id accepted, in bytes (ids are ASCII, so also in characters).
pub const MAX_ID_LEN: usize = 64;

/// An id or name that passed the protocol's id rule.
///
/// One type for every kind of id: the aliases below document which kind a field holds.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(Box<str>);

/// A player id (the JWT `sub` claim).
pub type PlayerId = Id;
/// A match id, chosen by the matchmaker.
pub type MatchId = Id;
/// A queue ticket id.
pub type TicketId = Id;
/// A game server id, chosen by the game server when it registers.
pub type ServerId = Id;
/// A chat room id.
pub type RoomId = Id;
/// A party id, chosen by the gateway that creates the party.
pub type PartyId = Id;
/// A session id, one per accepted WebSocket.
pub type SessionId = Id;
/// A connection id inside a gateway (used to address one socket of a player).
pub type ConnId = Id;
/// A gateway instance id.
pub type GatewayId = Id;
/// A matchmaking queue name (same rule as ids).
pub type QueueName = Id;
/// A region name (same rule as ids).
pub type RegionName = Id;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Ids have at least one character.
    #[error("invalid id: empty")]
    Empty,
    /// Ids have at most [`MAX_ID_LEN`] characters.
    #[error("invalid id: {len} bytes long, at most {MAX_ID_LEN} allowed")]
    TooLong {
        /// Length of the rejected string, in bytes.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9_.:-]`.
    #[error("invalid id: character {ch:?} at byte {at} is not one of [A-Za-z0-9_.:-]")]
    BadChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
}

impl Id {
    /// Checks `s` against the id rule and copies it.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check(s)?;
        Ok(Self(s.into()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned `String`.
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

fn check(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { len: s.len() });
    }
    match s.bytes().position(|b| !allowed(b)) {
        None => Ok(()),
        // Every byte before `at` is ASCII, so `at` is a char boundary.
        Some(at) => Err(IdError::BadChar {
            ch: s.get(at..).and_then(|t| t.chars().next()).unwrap_or('?'),
            at,
        }),
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({:?})", &*self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Id {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Id {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Id {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        check(&s)?;
        Ok(Self(s.into_boxed_str()))
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.into_string()
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by [`Id`] be looked up with a `&str`; `Eq`/`Ord`/`Hash` agree with `str`'s.
impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// On the wire an id is a string of the id rule.
impl schemars::JsonSchema for Id {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "1 to 64 characters of [A-Za-z0-9_.:-]",
            "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
        })
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(IdVisitor)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id: 1 to 64 characters of [A-Za-z0-9_.:-]")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
        Id::parse(v).map_err(E::custom)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Id, E> {
        Id::try_from(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests;
