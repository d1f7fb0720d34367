//! Handing a claimed match on: the cross-slot steps after the claim, each idempotent, so
//! whichever instance holds the queue next redoes what a crashed one left unfinished
//! (the claim recorded the match in the queue's slot; see `queues::holder`).
//!
//! 1. every player: ticket marker released, live match recorded (`player_matched.lua`);
//! 2. the match record (`{m:<match>}:record`);
//! 3. the server pool's pending set for the region (`pool_pend.lua`, once), and its hint;
//! 4. the claim marked done.
//!
//! A redone hand-over first looks for step 3: if the pool has the match, steps 1-3 were
//! done (they run in order) and the pool may have moved on (allocated, cancelled,
//! requeued), so only step 4 is left. Otherwise the steps before it were never seen by
//! anyone else and are safe to repeat.

use std::sync::LazyLock;
use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, KeysInterface};
use fred::types::scripts::Script;
use proto::{Event, EventEnvelope, Id};
use queues::{MatchRecord, QueueHolder};
use service_runtime::publish::Publisher;

static PLAYER_MATCHED: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("handover/player_matched.lua")));
static POOL_PEND: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("handover/pool_pend.lua")));

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

/// What the hand-over needs.
#[derive(Debug, Clone)]
pub struct Handover {
    pub keys: Keys,
    pub redis: Client,
    pub publisher: Publisher,
    pub match_ttl: Duration,
}

impl Handover {
    /// Runs every step for `record`, claimed by `holder`.
    pub async fn run(
        &self,
        holder: &QueueHolder,
        record: &MatchRecord,
    ) -> Result<(), HandoverError> {
        let pool = self.keys.pool(&record.region);
        let handed_over: i64 = self.redis.exists(pool.pool_match(&record.match_id)).await?;
        if handed_over == 1 {
            holder.finish(&record.match_id).await?;
            return Ok(());
        }
        let ttl = self.match_ttl.as_millis().to_string();
        let players = record.players().map(|t| async {
            let _: i64 = PLAYER_MATCHED
                .evalsha_with_reload(
                    &self.redis,
                    scripts::player_matched(&self.keys, &t.player),
                    vec![t.ticket.clone(), record.match_id.clone(), ttl.clone()],
                )
                .await?;
            Ok::<(), fred::error::Error>(())
        });
        for result in futures::future::join_all(players).await {
            result?;
        }
        let json =
            serde_json::to_string(record).map_err(|e| HandoverError::Encode(e.to_string()))?;
        let _: i64 = self
            .redis
            .hset(
                self.keys.match_(&record.match_id).record(),
                [
                    ("queue", record.queue.as_str()),
                    ("region", record.region.as_str()),
                    ("formed_ms", record.formed_ms.to_string().as_str()),
                    ("state", "formed"),
                    ("record", json.as_str()),
                ],
            )
            .await?;
        let _: bool = self
            .redis
            .pexpire(
                self.keys.match_(&record.match_id).record(),
                RECORD_TTL_MS,
                None,
            )
            .await?;
        let _: i64 = POOL_PEND
            .evalsha_with_reload(
                &self.redis,
                vec![pool.pool_match(&record.match_id), pool.pending()],
                vec![
                    record.match_id.clone(),
                    json.clone(),
                    record.formed_ms.to_string(),
                ],
            )
            .await?;
        self.signal_pool(record).await;
        holder.finish(&record.match_id).await?;
        Ok(())
    }

    /// A hint for the region's allocator; it also reconciles from the pending set.
    async fn signal_pool(&self, record: &MatchRecord) {
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
        let mut envelope = EventEnvelope::new(event, record.formed_ms);
        envelope.trace = service_runtime::trace::carrier(&tracing::Span::current());
        let payload = match proto::encode_event(&envelope) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(error = %err, "cannot encode match_formed");
                return;
            }
        };
        if let Err(err) = self
            .publisher
            .publish(&self.keys.pool(&record.region).events_channel(), payload)
            .await
        {
            tracing::debug!(error = %err, "match_formed hint lost; the pool reconciles from its pending set");
        }
    }
}
