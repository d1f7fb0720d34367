//! Reaping: a server whose heartbeat lapsed (by Redis's clock) is taken out of the pool by
//! the region's worker; its matches that had not started are cancelled and requeued, its
//! running games are ended as `server_lost`, and then it is forgotten. A server found dead
//! stays in the region's `lost` set until all of that is done, so a crash half-way is
//! finished later. Only when the [`ReapGate`] is open: an outage of the pool ends no game.

use std::time::Duration;

use core_keys::scripts;
use fred::prelude::SortedSetsInterface;
use fred::types::{FromValue, Value};
use matches::{Cancel, MatchState};
use proto::server::reason;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};
use tokio::time::Instant;

use crate::state::Shared;

/// When this instance may judge servers dead. A server is found dead when its heartbeats
/// stopped for a heartbeat TTL, but heartbeats also stop reaching Redis when the pool
/// itself is paused, starved or cut off from Redis: judged right after that, every game
/// of the region would end. So the gate opens only after this instance has held the
/// region and worked with a healthy Redis, without a stall, for a full heartbeat TTL, the
/// time every live server needs to heartbeat again.
#[derive(Debug)]
pub struct ReapGate {
    ttl: Duration,
    /// A round later than this after the previous one means this process stalled.
    stall: Duration,
    open_at: Instant,
    last_round: Instant,
}

impl ReapGate {
    /// A closed gate (it opens `ttl` from `now` unless closed again meanwhile).
    pub fn new(ttl: Duration, stall: Duration, now: Instant) -> Self {
        Self {
            ttl,
            stall,
            open_at: now + ttl,
            last_round: now,
        }
    }

    /// A round of the region's work begins; a gap over the stall limit since the last one
    /// (this process was paused or starved) closes the gate.
    pub fn round(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_round) > self.stall {
            self.close(now, "this instance stalled");
        }
        self.last_round = now;
    }

    /// Something showed that servers may not have reached Redis lately (the region just
    /// gained, a Redis error, a stall): judge no server for a full TTL from now.
    pub fn close(&mut self, now: Instant, why: &str) {
        if self.is_open(now) {
            tracing::info!(
                why,
                wait_ms = self.ttl.as_millis() as u64,
                "not reaping game servers until they have had a full heartbeat TTL to be heard"
            );
        }
        self.open_at = now + self.ttl;
    }

    pub fn is_open(&self, now: Instant) -> bool {
        now >= self.open_at
    }
}

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
                vec![server.clone()],
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
        // Each game left its games set (and assignments) as it was ended; the hash went
        // with the reap. A new incarnation registered meanwhile keeps all of its own.
        shared.registry.forget(region, &server).await?;
        let _: i64 = shared.ctx.redis.zrem(pool.lost(), &server).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);
    const STALL: Duration = Duration::from_secs(5);

    #[test]
    fn the_gate_opens_only_after_a_full_ttl_without_a_stall_or_an_error() {
        let start = Instant::now();
        let mut gate = ReapGate::new(TTL, STALL, start);
        assert!(!gate.is_open(start + TTL - Duration::from_millis(1)));
        // Rounds every second: the gate opens a TTL after it closed.
        for s in 1..=60 {
            gate.round(start + Duration::from_secs(s));
        }
        assert!(gate.is_open(start + TTL));
        // A round 10 s after the last (this process was paused) closes it for a TTL.
        let resumed = start + TTL + Duration::from_secs(10);
        gate.round(resumed);
        assert!(!gate.is_open(resumed + TTL - Duration::from_millis(1)));
        assert!(gate.is_open(resumed + TTL));
        // So does an error, whenever it comes.
        let failed = resumed + TTL;
        gate.close(failed, "a Redis error");
        assert!(!gate.is_open(failed + Duration::from_secs(30)));
    }
}
