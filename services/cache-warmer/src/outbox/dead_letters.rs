//! Dead letters: results the outbox set aside (unreadable, or refused by PostgreSQL as
//! data), kept per region for an operator. `GET /v1/results/dead` lists them and
//! `POST /v1/results/dead/replay` puts them back on the outbox once the cause is fixed
//! (`rallyctl dead-letters`). A replayed entry that fails again is set aside again;
//! storing is idempotent on the match id, so replaying twice does no harm.

use fred::prelude::ListInterface;
use serde_json::{Value, json};
use service_runtime::script::LuaScript;

use crate::state::Shared;

static RESULTS_REPLAY: LuaScript<u64> = LuaScript::new(include_str!("results_replay.lua"));

/// The first `limit` dead letters of `region` (match id when readable, and the entry cut
/// to 200 bytes), with how many there are in all.
pub async fn list(shared: &Shared, region: &str, limit: i64) -> Result<Value, fred::error::Error> {
    let dead = shared.ctx.keys.pool(region).results_dead();
    let total: u64 = shared.ctx.redis.llen(&dead).await?;
    let entries: Vec<String> = shared.ctx.redis.lrange(&dead, 0, limit - 1).await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| {
            json!({
                "match": super::match_and_players(entry).map(|(id, _)| id),
                "entry": super::truncate(entry),
            })
        })
        .collect();
    Ok(json!({"region": region, "total": total, "entries": entries}))
}

/// Puts every dead letter of `region` back on its outbox; how many.
pub async fn replay(shared: &Shared, region: &str) -> Result<u64, fred::error::Error> {
    let replayed: u64 = RESULTS_REPLAY
        .run(
            &shared.ctx.redis,
            core_keys::scripts::results_replay(&shared.ctx.keys, region),
            Vec::<String>::new(),
        )
        .await?;
    if replayed > 0 {
        metrics::counter!("rallypoint_results_replayed_total").increment(replayed);
        tracing::info!(%region, replayed, "dead letters put back on the results outbox by an operator");
    }
    Ok(replayed)
}
