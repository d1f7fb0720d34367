//! Games on servers: the acknowledgement of an assignment and the posted result.
//!
//! A match's region comes from its record (`{m:<match>}:record`, written by the
//! matchmaker). The result frees the server's slot and goes into the region's outbox in one
//! script (`pool_result.lua`), counted once however often it is posted; then the players'
//! live-match markers are cleared so they can queue again.

use std::sync::LazyLock;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface};
use fred::types::scripts::Script;
use proto::MatchResult;
use serde_json::json;

use crate::registry::{Registry, now_ms};

static ACK: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("games/pool_ack.lua")));
static RESULT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("games/pool_result.lua")));
static PLAYER_FREE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("games/player_free.lua")));

/// What a game server's call about a match found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A repeated result: accepted, not counted again.
    Duplicate,
    /// The pool knows no such match (or not on this server).
    Unknown,
    /// The match is in another state (e.g. cancelled).
    Conflict(String),
}

/// Where a match lives in the pool.
struct Located {
    region: String,
    server: String,
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
        let (server, record): (Option<String>, Option<String>) = self
            .redis
            .hmget(
                self.keys.pool(&region).pool_match(match_id),
                vec!["server", "record"],
            )
            .await?;
        Ok(server.map(|server| Located {
            region,
            server,
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
        let now = now_ms();
        let entry = json!({
            "match": match_id,
            "region": at.region,
            "server": at.server,
            "ended_ms": now,
            "placements": result.placements,
            "stats": result.stats,
            "record": at.record.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()),
        });
        let outcome: String = RESULT
            .evalsha_with_reload(
                &self.redis,
                scripts::pool_result(&self.keys, &at.region, match_id, &at.server),
                vec![
                    match_id.to_owned(),
                    at.server.clone(),
                    entry.to_string(),
                    now.to_string(),
                ],
            )
            .await?;
        match outcome.as_str() {
            "recorded" | "recorded_server_left" => {
                if outcome == "recorded_server_left" {
                    self.registry.forget(&at.server).await?;
                    tracing::info!(server = %at.server, "a draining server ran its last game and left the pool");
                }
                let _: i64 = self
                    .redis
                    .hset(
                        self.keys.match_(match_id).record(),
                        [("state", "ended"), ("ended_ms", now.to_string().as_str())],
                    )
                    .await?;
                if let Some(record) = parse(at.record.as_deref()) {
                    self.free_players(match_id, &record).await?;
                }
                metrics::counter!("rallypoint_pool_results_total").increment(1);
                Ok(Outcome::Done)
            }
            // A repeat may follow a crash between the two steps: free the players again.
            "duplicate" => {
                if let Some(record) = parse(at.record.as_deref()) {
                    self.free_players(match_id, &record).await?;
                }
                Ok(Outcome::Duplicate)
            }
            "unknown" => Ok(Outcome::Unknown),
            other => Ok(Outcome::Conflict(other.to_owned())),
        }
    }

    /// Clears the players' live-match markers of `match_id`: they may queue again.
    pub async fn free_players(
        &self,
        match_id: &str,
        record: &queues::MatchRecord,
    ) -> Result<(), fred::error::Error> {
        let frees = record.players().map(|p| {
            PLAYER_FREE.evalsha_with_reload::<i64, _, _>(
                &self.redis,
                vec![self.keys.player(&p.player).current_match()],
                vec![match_id.to_owned()],
            )
        });
        for freed in futures::future::join_all(frees).await {
            freed?;
        }
        Ok(())
    }
}

fn parse(record: Option<&str>) -> Option<queues::MatchRecord> {
    record.and_then(|r| serde_json::from_str(r).ok())
}
