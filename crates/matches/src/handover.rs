//! Handing a claimed match on: the cross-slot steps after the claim, each idempotent, so
//! whichever matchmaker instance holds the queue next redoes what a crashed one left
//! unfinished (the claim recorded the match in the queue's slot; see `queues::holder`).
//!
//! 1. every player: ticket marker released, live match recorded (`player_matched.lua`);
//! 2. the match record (`{m:<match>}:record`), state `formed`;
//! 3. the server pool's pending set for the region (`pool_pend.lua`, once).
//!
//! The region's allocator is woken by a hint ([`Matches::hint_pool`]) that the caller
//! sends once for all the matches it handed over together (the matchmaker: once per
//! tick and queue): woken, the allocator takes every match pending in the region, so one
//! hint per match only cost a publish and a wake-up each (its tick finds a lost hint's
//! matches).
//!
//! A redone hand-over first asks [`Matches::is_handed_over`]: if the pool has the match,
//! steps 1-3 were done (they run in order) and the pool may have moved on (allocated,
//! cancelled, requeued), so nothing is redone. Otherwise the steps were never seen by
//! anyone else and are safe to repeat.

use std::time::Duration;

use core_keys::scripts;
use fred::prelude::{HashesInterface, KeysInterface};
use proto::{Event, Id};
use queues::MatchRecord;
use service_runtime::script::LuaScript;

use crate::Matches;
use crate::state::{MatchState, field};

static PLAYER_MATCHED: LuaScript<i64> = LuaScript::new(include_str!("handover/player_matched.lua"));
static POOL_PEND: LuaScript<i64> = LuaScript::new(include_str!("handover/pool_pend.lua"));

/// How long a match's record is kept (for operators and the result's persistence).
const RECORD_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Why a hand-over step failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("redis: {0}")]
    Redis(fred::error::Error),
    #[error("{0}")]
    Tickets(#[from] queues::TicketError),
    #[error("cannot encode: {0}")]
    Encode(String),
}

service_runtime::redis_error_from!(HandoverError::Redis);

impl Matches {
    /// Whether the pool has `record`'s match already: the hand-over was done, whatever
    /// became of the match since.
    pub async fn is_handed_over(&self, record: &MatchRecord) -> Result<bool, HandoverError> {
        let pool = self.keys.pool(&record.region);
        let exists: i64 = self.redis.exists(pool.pool_match(&record.match_id)).await?;
        Ok(exists == 1)
    }

    /// Steps 1-3 for `record`; `live_match_ttl` is how long a player's live-match marker
    /// lives unless the match's end clears it. The caller then hints the region
    /// ([`Matches::hint_pool`]), once for all it handed over.
    pub async fn hand_over(
        &self,
        record: &MatchRecord,
        live_match_ttl: Duration,
    ) -> Result<(), HandoverError> {
        let json = self.mark_formed(record, live_match_ttl).await?;
        self.to_pool(record, json).await
    }

    /// Steps 1 and 2: the players are in the match, the record says `formed`. The
    /// record's JSON.
    pub(crate) async fn mark_formed(
        &self,
        record: &MatchRecord,
        live_match_ttl: Duration,
    ) -> Result<String, HandoverError> {
        self.players_matched(record, live_match_ttl).await?;
        let json =
            serde_json::to_string(record).map_err(|e| HandoverError::Encode(e.to_string()))?;
        let record_key = self.keys.match_(&record.match_id).record();
        // Written and given its lifetime in one round trip (one slot, in order).
        let pipeline = self.redis.pipeline();
        let _: () = pipeline
            .hset(
                &record_key,
                [
                    (field::QUEUE, record.queue.as_str()),
                    (field::REGION, record.region.as_str()),
                    (field::FORMED_MS, record.formed_ms.to_string().as_str()),
                    (field::STATE, MatchState::Formed.as_str()),
                    (field::RECORD, json.as_str()),
                ],
            )
            .await?;
        let _: () = pipeline.pexpire(&record_key, RECORD_TTL_MS, None).await?;
        let _: (i64, bool) = pipeline.all().await?;
        Ok(json)
    }

    /// Step 1: each player's ticket marker released and live match recorded.
    pub(crate) async fn players_matched(
        &self,
        record: &MatchRecord,
        live_match_ttl: Duration,
    ) -> Result<(), HandoverError> {
        let ttl = live_match_ttl.as_millis().to_string();
        let players = record.players().map(|t| {
            PLAYER_MATCHED.run(
                &self.redis,
                scripts::player_matched(&self.keys, &t.player),
                vec![t.ticket.clone(), record.match_id.clone(), ttl.clone()],
            )
        });
        for result in futures::future::join_all(players).await {
            result?;
        }
        Ok(())
    }

    /// Step 3: the match into the pool's pending set (once).
    pub(crate) async fn to_pool(
        &self,
        record: &MatchRecord,
        json: String,
    ) -> Result<(), HandoverError> {
        let _handed_now = POOL_PEND
            .run(
                &self.redis,
                scripts::pool_pend(&self.keys, &record.region, &record.match_id),
                vec![record.match_id.clone(), json, record.formed_ms.to_string()],
            )
            .await?;
        Ok(())
    }

    /// Wakes the allocator of `record`'s region (a hint: it also works from the pending
    /// set on its tick). Once for all the matches handed over together: woken, it
    /// allocates every match pending in the region.
    pub async fn hint_pool(&self, record: &MatchRecord) {
        let (Ok(match_id), Ok(queue), Ok(region)) = (
            Id::parse(&record.match_id),
            Id::parse(&record.queue),
            Id::parse(&record.region),
        ) else {
            return;
        };
        let event = Event::MatchFormed {
            match_id,
            queue,
            region,
        };
        self.publisher
            .publish_event(&self.keys.pool(&record.region).events_channel(), event)
            .await;
    }
}
