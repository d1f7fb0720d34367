//! Keys of one match, all in the slot `{m:<match>}`.
//!
//! A match's record outlives the queue and pool steps: it holds the result until the
//! result is durably in PostgreSQL.

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

    /// Hash: the posted result, kept until persisted; its presence makes a repeated
    /// result post idempotent.
    pub fn result(&self) -> String {
        format!("{}:result", self.prefix)
    }
}
