//! A formed match as the matchmaker records it: which tickets, which players in which
//! team, at what ratings. Stored (JSON) with the claim, so whichever instance finishes the
//! hand-over after a crash has everything it needs, and read by the server pool.

use std::sync::LazyLock;

use fred::prelude::Client;
use fred::types::scripts::Script;
use serde::{Deserialize, Serialize};

static PLAYER_FREE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("record/player_free.lua")));
static PLAYER_RESULT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("record/player_result.lua")));

/// Runs `script` on each player's live-match and pending-rating keys (one slot each).
async fn per_player<'a>(
    script: &Script,
    redis: &Client,
    keys: &core_keys::Keys,
    players: impl Iterator<Item = &'a str>,
    args: Vec<String>,
) -> Result<(), fred::error::Error> {
    let runs = players.map(|player| {
        script.evalsha_with_reload::<i64, _, _>(
            redis,
            core_keys::scripts::player_result(keys, player),
            args.clone(),
        )
    });
    for ran in futures::future::join_all(runs).await {
        ran?;
    }
    Ok(())
}

/// Frees `players` of `match_id`: clears their live-match marker and a pending rating of
/// that match, so they may queue again. The one way a match lets its players go when it
/// will not be rated (cancelled, lost, or its result set aside).
pub async fn free_players<'a>(
    redis: &Client,
    keys: &core_keys::Keys,
    match_id: &str,
    players: impl Iterator<Item = &'a str>,
) -> Result<(), fred::error::Error> {
    per_player(
        &PLAYER_FREE,
        redis,
        keys,
        players,
        vec![match_id.to_owned()],
    )
    .await
}

/// A result for `match_id` was posted: takes `players` out of the match and marks their
/// rating pending until the cache-warmer has committed it (`player_result.lua`). Runs
/// before the result enters the outbox, so the commit's refresh always clears the mark.
pub async fn mark_rating_pending<'a>(
    redis: &Client,
    keys: &core_keys::Keys,
    match_id: &str,
    players: impl Iterator<Item = &'a str>,
) -> Result<(), fred::error::Error> {
    let ttl = core_keys::ttl::RATING_PENDING.as_millis().to_string();
    per_player(
        &PLAYER_RESULT,
        redis,
        keys,
        players,
        vec![match_id.to_owned(), ttl],
    )
    .await
}

/// One player of a formed match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedTicket {
    pub ticket: String,
    pub player: String,
    pub rating: f64,
    pub enqueued_ms: u64,
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
}

impl MatchRecord {
    /// Every player, team by team.
    pub fn players(&self) -> impl Iterator<Item = &MatchedTicket> {
        self.teams.iter().flatten()
    }
}

/// A posted result as the server pool keeps it in the region's outbox
/// (`{pool:<region>}:results`) until the cache-warmer has it in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultEntry {
    #[serde(rename = "match")]
    pub match_id: String,
    pub region: String,
    pub server: String,
    /// When the game server acknowledged the assignment, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When the result was posted, ms since the epoch.
    pub ended_ms: u64,
    /// Player ids grouped by placement, best first.
    pub placements: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
    /// The match as formed (teams, ratings); absent if its record was lost.
    #[serde(default)]
    pub record: Option<MatchRecord>,
}
