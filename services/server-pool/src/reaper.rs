//! Reaping: a server whose heartbeat lapsed is taken out of the pool by the region's
//! worker; its matches that had not started are cancelled and requeued, its running games
//! are ended as `server_lost`, and then it is forgotten. A server found dead stays in the
//! region's `lost` set until all of that is done, so a crash half-way is finished later.

use std::sync::LazyLock;

use core_keys::scripts;
use fred::prelude::{KeysInterface, SortedSetsInterface};
use fred::types::scripts::Script;
use proto::server::reason;

use crate::cancel::cancel;
use crate::registry::now_ms;
use crate::state::Shared;

static REAP: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("reaper/pool_reap.lua")));

/// Reaps the dead servers of `region`.
pub async fn reap(shared: &Shared, region: &str) -> Result<(), fred::error::Error> {
    let pool = shared.keys.pool(region);
    let now = now_ms();
    let mut dead: Vec<String> = shared
        .redis
        .zrangebyscore(pool.liveness(), "-inf", now as f64, false, Some((0, 100)))
        .await?;
    let lost: Vec<String> = shared
        .redis
        .zrange(pool.lost(), 0, 99, None, false, None, false)
        .await?;
    dead.extend(lost);
    dead.sort();
    dead.dedup();
    for server in dead {
        let reply: Vec<String> = REAP
            .evalsha_with_reload(
                &shared.redis,
                scripts::pool_reap(&shared.keys, region, &server),
                vec![server.clone(), now.to_string()],
            )
            .await?;
        let Some(("dead", matches)) = reply.split_first().map(|(h, t)| (h.as_str(), t)) else {
            continue;
        };
        tracing::warn!(
            server,
            region,
            games = matches.len(),
            "game server stopped heartbeating; taking it out of the pool"
        );
        metrics::counter!("rallypoint_pool_reaped_total").increment(1);
        for match_id in matches {
            cancel(
                shared,
                region,
                match_id,
                Some(&server),
                reason::SERVER_LOST,
                None,
            )
            .await?;
        }
        let _: i64 = shared
            .redis
            .del(vec![
                pool.server(&server),
                pool.games(&server),
                pool.assignments(&server),
            ])
            .await?;
        shared.registry.forget(&server).await?;
        let _: i64 = shared.redis.zrem(pool.lost(), &server).await?;
    }
    Ok(())
}
