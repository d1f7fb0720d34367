//! Keys of one match, all in the slot `{m:<match>}`.
//!
//! A match's record outlives the queue and pool steps: operators and a reconnecting
//! player read it after the pool has moved on.

/// Keys of one match. Built by [`crate::Keys::match_`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchKeys {
    prefix: String,
}

impl MatchKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// Hash: the match (queue, region, teams, server, state, times).
    pub fn record(&self) -> String {
        format!("{}:record", self.prefix)
    }

    /// Hash: the match's ready check, where the queue has one: `state` (`open`, then
    /// `proceed`, `declined` or `ready_timeout`), `expires_ms`, the record (JSON), and per
    /// player `a:<player>` (`''` until they answer, then `accepted` or `declined`).
    pub fn ready(&self) -> String {
        format!("{}:ready", self.prefix)
    }
}
