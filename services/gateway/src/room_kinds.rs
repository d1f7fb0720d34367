//! Kinds of rooms: which rooms keep a history and which push presence, chosen by the
//! start of their names (`[gateway.rooms.<kind>]`, e.g. `prefix = "lobby:"`). A room no
//! kind matches is a plain room: live messages only. Where several prefixes match, the
//! longest wins.
//!
//! ```toml
//! [gateway.rooms.lobby]
//! prefix = "lobby:"
//! presence = true
//! history_len = 100
//! history_ttl_ms = 600000
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use service_runtime::ConfigError;

/// Messages one room may keep at most.
pub const MAX_HISTORY_LEN: usize = 1000;

/// `[gateway.rooms.<kind>]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoomKindConfig {
    /// Rooms whose names start with this are of this kind.
    pub prefix: String,
    /// Members get `room.presence` when people join or leave.
    #[serde(default)]
    pub presence: bool,
    /// Messages kept (0: no history).
    #[serde(default)]
    pub history_len: usize,
    /// How long the history lives after the latest message, ms (required with
    /// `history_len`).
    #[serde(default)]
    pub history_ttl_ms: u64,
}

/// What a room of some kind does beyond live messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomKind {
    pub presence: bool,
    /// `Some` when the room keeps a history.
    pub history: Option<History>,
}

/// A room's history settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub len: usize,
    pub ttl: Duration,
}

/// The configured kinds, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct RoomKinds {
    by_prefix: Vec<(String, RoomKind)>,
}

impl RoomKinds {
    /// Checks `[gateway.rooms]`; errors name the key.
    pub fn from_config(kinds: &BTreeMap<String, RoomKindConfig>) -> Result<Self, ConfigError> {
        let mut by_prefix: Vec<(String, RoomKind)> = Vec::new();
        for (name, kind) in kinds {
            let key = |field: &str| format!("gateway.rooms.{name}.{field}");
            if kind.prefix.is_empty() || proto::Id::parse(&kind.prefix).is_err() {
                return Err(ConfigError::new(
                    key("prefix"),
                    format!(
                        "{:?} is not the start of a room id (letters, digits, `_.:-`, e.g. \"lobby:\")",
                        kind.prefix
                    ),
                ));
            }
            if by_prefix.iter().any(|(p, _)| *p == kind.prefix) {
                return Err(ConfigError::new(
                    key("prefix"),
                    format!("{:?} is the prefix of another kind too", kind.prefix),
                ));
            }
            if kind.history_len > MAX_HISTORY_LEN {
                return Err(ConfigError::new(
                    key("history_len"),
                    format!("at most {MAX_HISTORY_LEN} messages"),
                ));
            }
            let history = match (kind.history_len, kind.history_ttl_ms) {
                (0, 0) => None,
                (0, _) => {
                    return Err(ConfigError::new(
                        key("history_len"),
                        "is 0 (no history) but history_ttl_ms is set: set both or neither",
                    ));
                }
                (_, 0) => {
                    return Err(ConfigError::new(
                        key("history_ttl_ms"),
                        "is required with history_len: how long the history lives after the latest message",
                    ));
                }
                (len, ttl) => Some(History {
                    len,
                    ttl: Duration::from_millis(ttl),
                }),
            };
            by_prefix.push((
                kind.prefix.clone(),
                RoomKind {
                    presence: kind.presence,
                    history,
                },
            ));
        }
        by_prefix.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Self { by_prefix })
    }

    /// The kind of `room`, if one matches its name.
    pub fn of(&self, room: &str) -> Option<RoomKind> {
        self.by_prefix
            .iter()
            .find(|(prefix, _)| room.starts_with(prefix.as_str()))
            .map(|(_, kind)| *kind)
    }

    /// The history settings of `room`, if it keeps one.
    pub fn history(&self, room: &str) -> Option<History> {
        self.of(room).and_then(|kind| kind.history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(prefix: &str, presence: bool, len: usize, ttl: u64) -> RoomKindConfig {
        RoomKindConfig {
            prefix: prefix.to_owned(),
            presence,
            history_len: len,
            history_ttl_ms: ttl,
        }
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let kinds = RoomKinds::from_config(&BTreeMap::from([
            ("lobby".to_owned(), kind("lobby:", true, 100, 600_000)),
            ("quiet".to_owned(), kind("lobby:quiet:", false, 0, 0)),
        ]))
        .expect("valid");
        assert_eq!(kinds.history("lobby:eu").map(|h| h.len), Some(100));
        assert_eq!(
            kinds.of("lobby:quiet:1"),
            Some(RoomKind {
                presence: false,
                history: None
            })
        );
        assert_eq!(kinds.of("hall"), None);
    }

    #[test]
    fn bad_kinds_are_refused_naming_the_key() {
        let refused = |k: RoomKindConfig| {
            RoomKinds::from_config(&BTreeMap::from([("k".to_owned(), k)]))
                .expect_err("refused")
                .key
        };
        assert_eq!(refused(kind("", false, 0, 0)), "gateway.rooms.k.prefix");
        assert_eq!(refused(kind("a b", false, 0, 0)), "gateway.rooms.k.prefix");
        assert_eq!(
            refused(kind("x:", false, 10, 0)),
            "gateway.rooms.k.history_ttl_ms"
        );
        assert_eq!(
            refused(kind("x:", false, 0, 10)),
            "gateway.rooms.k.history_len"
        );
        assert_eq!(
            refused(kind("x:", false, 5000, 10)),
            "gateway.rooms.k.history_len"
        );
    }
}
