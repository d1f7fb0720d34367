//! A formed match as the matchmaker records it: which tickets, which players in which
//! team, at what ratings. Stored (JSON) with the claim, so whichever instance finishes the
//! hand-over after a crash has everything it needs, and read by the server pool.

use serde::{Deserialize, Serialize};

/// One player of a formed match. The members of a party share their ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedTicket {
    pub ticket: String,
    pub player: String,
    /// The player's own rating (what the result moves).
    pub rating: f64,
    pub enqueued_ms: u64,
    /// A party ticket's rating (what it was matched at), kept to requeue it at the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_rating: Option<f64>,
}

/// A formed match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    #[serde(rename = "match")]
    pub match_id: String,
    pub queue: String,
    pub region: String,
    /// When the tickets were claimed, ms since the epoch.
    pub formed_ms: u64,
    /// `teams[i]` is team `i`.
    pub teams: Vec<Vec<MatchedTicket>>,
    /// The `traceparent` of the span that formed the match, when traced: the pool's
    /// allocation continues that trace ([`service_runtime::trace`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Set on a backfill's claim: the fill's id. Its `teams` then hold only the players
    /// the fill adds, each on the team they join (the others empty); `match_id` is the
    /// running match's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<String>,
    /// The players who joined the running match by backfill (on the match as the pool
    /// keeps it; they are in `teams` too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backfilled: Vec<String>,
}

impl MatchRecord {
    /// Every player, team by team.
    pub fn players(&self) -> impl Iterator<Item = &MatchedTicket> {
        self.teams.iter().flatten()
    }

    /// The id its claim is kept under until the hand-over: the match's, or a backfill's
    /// fill's (a match may be filled several times).
    pub fn claim_id(&self) -> &str {
        self.fill.as_deref().unwrap_or(&self.match_id)
    }
}
