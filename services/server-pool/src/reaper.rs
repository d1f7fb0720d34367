//! Reaping: a server whose heartbeat lapsed is taken out of the pool by the region's
//! worker; its matches that had not started are cancelled and requeued, its running games
//! are ended as `server_lost`, and then it is forgotten. A server found dead stays in the
//! region's `lost` set until all of that is done, so a crash half-way is finished later.

use core_keys::scripts;
use fred::prelude::{KeysInterface, SortedSetsInterface};
use fred::types::{FromValue, Value};
use matches::{Cancel, MatchState};
use proto::server::reason;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::state::Shared;

static REAP: LuaScript<Reaped> = LuaScript::new(include_str!("reaper/pool_reap.lua"));

/// What `pool_reap.lua` found.
enum Reaped {
    /// It heartbeated meanwhile.
    Alive,
    /// Out of the pool now; its games are listed.
    Dead(Vec<String>),
}

impl FromValue for Reaped {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        match tagged(value)? {
            (tag, _) if tag == "alive" => Ok(Reaped::Alive),
            (tag, games) if tag == "dead" => Ok(Reaped::Dead(games)),
            (tag, _) => Err(unexpected_reply("pool_reap.lua", &tag)),
        }
    }
}

/// Reaps the dead servers of `region`.
pub async fn reap(shared: &Shared, region: &str) -> Result<(), fred::error::Error> {
    let pool = shared.ctx.keys.pool(region);
    let now = now_ms();
    let mut dead: Vec<String> = shared
        .ctx
        .redis
        .zrangebyscore(pool.liveness(), "-inf", now as f64, false, Some((0, 100)))
        .await?;
    let lost: Vec<String> = shared
        .ctx
        .redis
        .zrange(pool.lost(), 0, 99, None, false, None, false)
        .await?;
    dead.extend(lost);
    dead.sort();
    dead.dedup();
    for server in dead {
        let reaped = REAP
            .run(
                &shared.ctx.redis,
                scripts::pool_reap(&shared.ctx.keys, region, &server),
                vec![server.clone(), now.to_string()],
            )
            .await?;
        let Reaped::Dead(games) = reaped else {
            continue;
        };
        tracing::warn!(
            server,
            region,
            games = games.len(),
            "game server stopped heartbeating; taking it out of the pool"
        );
        metrics::counter!("rallypoint_pool_reaped_total").increment(1);
        for match_id in &games {
            shared
                .matches
                .cancel(Cancel {
                    region,
                    match_id,
                    server: Some(&server),
                    reason: reason::SERVER_LOST,
                    only_in: None::<MatchState>,
                })
                .await?;
        }
        let _: i64 = shared
            .ctx
            .redis
            .del(vec![
                pool.server(&server),
                pool.games(&server),
                pool.assignments(&server),
            ])
            .await?;
        shared.registry.forget(&server).await?;
        let _: i64 = shared.ctx.redis.zrem(pool.lost(), &server).await?;
    }
    Ok(())
}
