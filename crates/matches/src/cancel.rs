//! Matches that cannot go on: no server in time (`no_server`), not acknowledged in time
//! (`not_started`), their server died or no longer runs them (`server_lost`), or they ran
//! past the longest game allowed (`game_timeout`). A cancelled match's players get
//! their tickets back with their original wait and are told `match.cancelled`
//! {`requeued: true`}; a game that was already running on a dead server ends, and its
//! players are told {`requeued: false`}.
//!
//! The cancel itself is one script on the region's slot (`pool_cancel.lua`), which also
//! records the match in the region's `cancelling` set; the cross-slot steps (requeue,
//! tell) run from that set, so an instance that dies half-way is finished by the next.

use core_keys::scripts;
use fred::prelude::{HashesInterface, SortedSetsInterface};
use fred::types::{FromValue, Value};
use proto::server::reason;
use proto::{Id, ServerMessage};
use queues::MatchRecord;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::Matches;
use crate::game_server::players_of;
use crate::state::{MatchState, field};

static CANCEL: LuaScript<Cancelled> =
    LuaScript::with_library(crate::SLOT_FREE, include_str!("cancel/pool_cancel.lua"));

/// Matches looked at per deadline per round.
const BATCH: i64 = 256;

/// One match to cancel.
#[derive(Debug, Clone, Copy)]
pub struct Cancel<'a> {
    pub region: &'a str,
    pub match_id: &'a str,
    /// The server it was given to, if any.
    pub server: Option<&'a str>,
    /// Why (`proto::server::reason`).
    pub reason: &'a str,
    /// Only if the match is still in this state: a deadline must not cancel a match that
    /// moved on meanwhile (allocated, or acknowledged). `None`: its server died.
    pub only_in: Option<MatchState>,
}

/// A match found in a region index (`set`) that is to be cancelled on its server.
struct OnServer<'a> {
    region: &'a str,
    set: String,
    match_id: &'a str,
    reason: Option<&'a str>,
    only_in: Option<MatchState>,
}

/// What cancelling did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub outcome: CancelOutcome,
    /// The match's server was draining and this was its last game: it left the pool.
    pub server_left: bool,
}

/// How a cancelled match ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled before it started: its players are requeued.
    Requeued,
    /// It was running: it ends as lost, its players are freed.
    Lost,
    /// Already over, or no longer in the state asked about: nothing changed.
    Unchanged,
}

impl FromValue for Cancelled {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        let outcome = match tag.as_str() {
            "requeue" => CancelOutcome::Requeued,
            "lost" => CancelOutcome::Lost,
            "none" => CancelOutcome::Unchanged,
            other => return Err(unexpected_reply("pool_cancel.lua", other)),
        };
        Ok(Cancelled {
            outcome,
            server_left: rest.first().is_some_and(|l| l == "server_left"),
        })
    }
}

impl Matches {
    /// Cancels a match (or ends it as lost), then requeues or frees its players and
    /// tells them. Once the script has run, the answer is `Ok`: a failure of the
    /// cross-slot rest is logged and retried from the region's `cancelling` set, so the
    /// caller always learns whether a server left.
    pub async fn cancel(&self, cancel: Cancel<'_>) -> Result<Cancelled, fred::error::Error> {
        // A match with no server yet touches no server's keys; '-' names none.
        let server = cancel.server.unwrap_or("-");
        let region = cancel.region;
        let match_id = cancel.match_id;
        let cancelled = CANCEL
            .run(
                &self.redis,
                scripts::pool_cancel(&self.keys, region, match_id, server),
                vec![
                    match_id.to_owned(),
                    cancel.reason.to_owned(),
                    now_ms().to_string(),
                    cancel
                        .only_in
                        .map(MatchState::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    server.to_owned(),
                ],
            )
            .await?;
        match cancelled.outcome {
            CancelOutcome::Requeued => {
                metrics::counter!("rallypoint_pool_cancellations_total", "reason" => cancel.reason.to_owned())
                    .increment(1);
                tracing::info!(
                    match_id,
                    region,
                    reason = cancel.reason,
                    "match cancelled; its players are requeued"
                );
                self.finish_or_retry_later(region, match_id).await;
            }
            CancelOutcome::Lost => {
                metrics::counter!("rallypoint_pool_lost_games_total").increment(1);
                tracing::info!(
                    match_id,
                    region,
                    "a running game's server died; the game is ended as lost"
                );
                self.finish_or_retry_later(region, match_id).await;
            }
            CancelOutcome::Unchanged => {}
        }
        Ok(cancelled)
    }

    /// Cancels the matches of `region` that waited for a server longer than
    /// `allocate_timeout_ms`, and those a live server never acknowledged within
    /// `ack_timeout_ms` (it lost or ignored the assignment; no game ran yet); then
    /// finishes cancellations left half-done. The draining servers that ran their last
    /// game and left are added to `servers_left` as they go, so the caller forgets them
    /// even if a later step fails.
    pub async fn cancel_overdue(
        &self,
        region: &str,
        allocate_timeout_ms: u64,
        ack_timeout_ms: u64,
        servers_left: &mut Vec<String>,
    ) -> Result<(), fred::error::Error> {
        let pool = self.keys.pool(region);
        let overdue = self
            .older_than(pool.pending(), allocate_timeout_ms, BATCH)
            .await?;
        for match_id in overdue {
            self.cancel(Cancel {
                region,
                match_id: &match_id,
                server: None,
                reason: reason::NO_SERVER,
                only_in: Some(MatchState::Pending),
            })
            .await?;
        }
        let unacked = self
            .older_than(pool.unacked(), ack_timeout_ms, BATCH)
            .await?;
        for match_id in unacked {
            // A match already started or ended leaves the set here.
            let on_server = OnServer {
                region,
                set: pool.unacked(),
                match_id: &match_id,
                reason: Some(reason::NOT_STARTED),
                only_in: Some(MatchState::Assigned),
            };
            self.cancel_on_server(on_server, servers_left).await?;
        }
        self.finish_cancellations(region).await
    }

    /// Ends the matches of `region` whose server no longer runs them (the region's
    /// orphaned set: a new incarnation took the server's id, its heartbeats stopped
    /// listing them, or they ran past the longest game), each for the reason kept on it
    /// (`server_lost` when none): a match not started yet is cancelled and its players
    /// requeued, a running game ends and its players are freed. Draining servers that ran
    /// their last game are added to `servers_left`.
    pub async fn end_orphaned(
        &self,
        region: &str,
        servers_left: &mut Vec<String>,
    ) -> Result<(), fred::error::Error> {
        let pool = self.keys.pool(region);
        // By rank, not by score: the score is Redis's clock, which this instance's may
        // trail, and every orphan is due at once.
        let orphaned: Vec<String> = self
            .redis
            .zrange(pool.orphaned(), 0, BATCH - 1, None, false, None, false)
            .await?;
        for match_id in orphaned {
            let on_server = OnServer {
                region,
                set: pool.orphaned(),
                match_id: &match_id,
                reason: None,
                only_in: None,
            };
            self.cancel_on_server(on_server, servers_left).await?;
        }
        Ok(())
    }

    /// Cancels (or ends) a match on the server it was given to, for `reason` (`None`: the
    /// one kept on the match, else `server_lost`), notes the server if it left, and takes
    /// the match off the region index it was found in.
    async fn cancel_on_server(
        &self,
        on: OnServer<'_>,
        servers_left: &mut Vec<String>,
    ) -> Result<(), fred::error::Error> {
        let (server, kept): (Option<String>, Option<String>) = self
            .redis
            .hmget(
                self.keys.pool(on.region).pool_match(on.match_id),
                vec![field::SERVER, field::END_REASON],
            )
            .await?;
        let cancelled = self
            .cancel(Cancel {
                region: on.region,
                match_id: on.match_id,
                server: server.as_deref(),
                reason: on.reason.or(kept.as_deref()).unwrap_or(reason::SERVER_LOST),
                only_in: on.only_in,
            })
            .await?;
        if let (true, Some(server)) = (cancelled.server_left, server) {
            servers_left.push(server);
        }
        let _: i64 = self.redis.zrem(on.set, on.match_id).await?;
        Ok(())
    }

    /// [`Matches::finish`], or a warning: the match stays in the `cancelling` set and the
    /// region's next round finishes it.
    async fn finish_or_retry_later(&self, region: &str, match_id: &str) {
        if let Err(err) = self.finish(region, match_id).await {
            tracing::warn!(match_id, region, error = %err, "could not finish a cancellation; it is retried");
        }
    }

    /// Finishes every cancellation of `region` still to be finished.
    pub async fn finish_cancellations(&self, region: &str) -> Result<(), fred::error::Error> {
        let pending: Vec<String> = self
            .redis
            .zrange(
                self.keys.pool(region).cancelling(),
                0,
                99,
                None,
                false,
                None,
                false,
            )
            .await?;
        for match_id in pending {
            self.finish(region, &match_id).await?;
        }
        Ok(())
    }

    /// Finishes a cancelled match (requeue its players and tell them) or a lost game
    /// (free its players and tell them), and takes it off the region's `cancelling` set.
    async fn finish(&self, region: &str, match_id: &str) -> Result<(), fred::error::Error> {
        let pool = self.keys.pool(region);
        let [state, why, outcome, record, backfill_asked]: [Option<String>; 5] = self
            .redis
            .hmget(
                pool.pool_match(match_id),
                vec![
                    field::STATE,
                    field::REASON,
                    field::OUTCOME,
                    field::RECORD,
                    field::BACKFILL_ASKED,
                ],
            )
            .await?;
        let record = record.and_then(|json| serde_json::from_str::<MatchRecord>(&json).ok());
        if let Some(record) = record {
            if backfill_asked.is_some() {
                self.end_backfill(&record).await;
            }
            let record_key = self.keys.match_(match_id).record();
            if state.as_deref().and_then(MatchState::parse) == Some(MatchState::Ended) {
                let why = outcome.unwrap_or_else(|| reason::SERVER_LOST.to_owned());
                self.free_players(match_id, players_of(&record)).await?;
                let _: i64 = self
                    .redis
                    .hset(
                        record_key,
                        [
                            (field::STATE, MatchState::Ended.as_str()),
                            (field::OUTCOME, why.as_str()),
                        ],
                    )
                    .await?;
                self.tell_cancelled(&record, &why, false).await;
            } else {
                if let Err(err) = self.tickets.requeue(&record).await {
                    tracing::warn!(match_id, error = %err, "could not requeue a cancelled match's players; retrying");
                    return Ok(());
                }
                let _: i64 = self
                    .redis
                    .hset(record_key, [(field::STATE, MatchState::Cancelled.as_str())])
                    .await?;
                let why = why.as_deref().unwrap_or(reason::NO_SERVER);
                self.tell_cancelled(&record, why, true).await;
            }
        }
        let _: i64 = self.redis.zrem(pool.cancelling(), match_id).await?;
        Ok(())
    }

    async fn tell_cancelled(&self, record: &MatchRecord, why: &str, requeued: bool) {
        let Ok(match_id) = Id::parse(&record.match_id) else {
            return;
        };
        let pushes = record.players().map(|p| {
            self.push(
                &p.player,
                ServerMessage::MatchCancelled {
                    match_id: match_id.clone(),
                    reason: why.to_owned(),
                    requeued,
                },
            )
        });
        futures::future::join_all(pushes).await;
    }
}
