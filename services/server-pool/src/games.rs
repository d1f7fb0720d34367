//! Games on servers: the acknowledgement of an assignment and the posted result.
//!
//! A match's region comes from its record (`{m:<match>}:record`, written by the
//! matchmaker). A posted result first takes the players out of the match and marks their
//! rating pending (`queues::mark_rating_pending`, one script per player slot), then frees the
//! server's slot and goes into the region's outbox in one script (`pool_result.lua`),
//! counted once however often it is posted. The cache-warmer commits the outbox to
//! PostgreSQL and clears the pending marks with the new ratings; a join in between waits
//! for them rather than queue at the old rating.

use std::sync::LazyLock;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface};
use fred::types::scripts::Script;
use proto::MatchResult;

use crate::registry::{Registry, now_ms};

static ACK: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("games/pool_ack.lua")));
static RESULT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("games/pool_result.lua")));

/// What a game server's call about a match found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A repeated result: accepted, not counted again.
    Duplicate,
    /// The pool knows no such match (or not on this server).
    Unknown,
    /// The result names a player who is not in the match.
    NotInMatch(String),
    /// The match is in another state (e.g. cancelled).
    Conflict(String),
}

/// Where a match lives in the pool.
struct Located {
    region: String,
    server: String,
    state: Option<String>,
    started_ms: Option<u64>,
    record: Option<String>,
}

/// The games of one deployment.
#[derive(Debug, Clone)]
pub struct Games {
    pub keys: Keys,
    pub redis: Client,
    pub registry: Registry,
}

impl Games {
    async fn locate(&self, match_id: &str) -> Result<Option<Located>, fred::error::Error> {
        let region: Option<String> = self
            .redis
            .hget(self.keys.match_(match_id).record(), "region")
            .await?;
        let Some(region) = region else {
            return Ok(None);
        };
        let (server, state, started_ms, record): (
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<String>,
        ) = self
            .redis
            .hmget(
                self.keys.pool(&region).pool_match(match_id),
                vec!["server", "state", "started_ms", "record"],
            )
            .await?;
        Ok(server.map(|server| Located {
            region,
            server,
            state,
            started_ms,
            record,
        }))
    }

    /// The game server took its assignment.
    pub async fn ack(&self, match_id: &str) -> Result<Outcome, fred::error::Error> {
        let Some(at) = self.locate(match_id).await? else {
            return Ok(Outcome::Unknown);
        };
        let pool = self.keys.pool(&at.region);
        let state: String = ACK
            .evalsha_with_reload(
                &self.redis,
                vec![
                    pool.pool_match(match_id),
                    pool.assignments(&at.server),
                    pool.unacked(),
                ],
                vec![match_id.to_owned(), now_ms().to_string()],
            )
            .await?;
        Ok(match state.as_str() {
            "started" => Outcome::Done,
            "unknown" => Outcome::Unknown,
            other => Outcome::Conflict(other.to_owned()),
        })
    }

    /// Records a result, frees the slot, and frees the players to queue again.
    pub async fn result(
        &self,
        match_id: &str,
        result: &MatchResult,
    ) -> Result<Outcome, fred::error::Error> {
        let Some(at) = self.locate(match_id).await? else {
            return Ok(Outcome::Unknown);
        };
        let record = parse(at.record.as_deref());
        if let Some(record) = &record {
            let stranger = result
                .placements
                .iter()
                .flatten()
                .find(|p| !record.players().any(|t| t.player == p.as_str()));
            if let Some(stranger) = stranger {
                return Ok(Outcome::NotInMatch(stranger.to_string()));
            }
        }
        let fresh = matches!(at.state.as_deref(), Some("assigned" | "started"));
        if let (true, Some(record)) = (fresh, &record) {
            self.mark_rating_pending(match_id, record).await?;
        }
        let now = now_ms();
        let entry = queues::ResultEntry {
            match_id: match_id.to_owned(),
            region: at.region.clone(),
            server: at.server.clone(),
            started_ms: at.started_ms,
            ended_ms: now,
            placements: result
                .placements
                .iter()
                .map(|group| group.iter().map(ToString::to_string).collect())
                .collect(),
            stats: result.stats.clone(),
            record: record.clone(),
        };
        let entry = serde_json::to_string(&entry)
            .map_err(|e| fred::error::Error::new(fred::error::ErrorKind::Parse, e.to_string()))?;
        let outcome: String = RESULT
            .evalsha_with_reload(
                &self.redis,
                scripts::pool_result(&self.keys, &at.region, match_id, &at.server),
                vec![
                    match_id.to_owned(),
                    at.server.clone(),
                    entry,
                    now.to_string(),
                ],
            )
            .await?;
        match outcome.as_str() {
            "recorded" | "recorded_server_left" => {
                if outcome == "recorded_server_left" {
                    self.registry.forget_drained(&at.server).await?;
                    tracing::info!(server = %at.server, "a draining server ran its last game and left the pool");
                }
                let _: i64 = self
                    .redis
                    .hset(
                        self.keys.match_(match_id).record(),
                        [("state", "ended"), ("ended_ms", now.to_string().as_str())],
                    )
                    .await?;
                metrics::counter!("rallypoint_pool_results_total").increment(1);
                Ok(Outcome::Done)
            }
            // Posted before: counted once; the first post marked and freed the players.
            "duplicate" => Ok(Outcome::Duplicate),
            // Gone or cancelled between the look-up and the script: nothing will be rated,
            // so the pending marks set above must not hold the players' next join back.
            // (On a Redis error the marks stay: the game server retries the post, which
            // either records the result or finds it recorded.)
            "unknown" => {
                if let Some(record) = &record {
                    self.free_players(match_id, record).await?;
                }
                Ok(Outcome::Unknown)
            }
            other => {
                if let Some(record) = &record {
                    self.free_players(match_id, record).await?;
                }
                Ok(Outcome::Conflict(other.to_owned()))
            }
        }
    }

    /// Takes the players out of `match_id` and marks their rating pending until the
    /// cache-warmer commits the result.
    async fn mark_rating_pending(
        &self,
        match_id: &str,
        record: &queues::MatchRecord,
    ) -> Result<(), fred::error::Error> {
        queues::mark_rating_pending(
            &self.redis,
            &self.keys,
            match_id,
            record.players().map(|p| p.player.as_str()),
        )
        .await
    }

    /// Clears the players' live-match markers of `match_id` (and a pending rating of it):
    /// they may queue again.
    pub async fn free_players(
        &self,
        match_id: &str,
        record: &queues::MatchRecord,
    ) -> Result<(), fred::error::Error> {
        queues::free_players(
            &self.redis,
            &self.keys,
            match_id,
            record.players().map(|p| p.player.as_str()),
        )
        .await
    }
}

fn parse(record: Option<&str>) -> Option<queues::MatchRecord> {
    record.and_then(|r| serde_json::from_str(r).ok())
}
