//! Static game data in Redis (`{data:<kind>}:docs` and `:version`): every kind warmed at
//! start, whenever its version in PostgreSQL differs from the cache's (checked every
//! `warmer.data_refresh_interval_ms`), and on invalidation (the operator route, or a
//! `cache_invalidate` event naming a dataset on `{warm}:requests`).
//!
//! A kind is warmed by one instance at a time: the warm takes the kind's lease, writes the
//! snapshot with `data_warm.lua` (fenced by the lease; never older over newer), and lets
//! the lease go. Afterwards readers are told to drop their local copies.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{KeysInterface, SetsInterface};
use persistence::game_data;
use service_runtime::lease::Lease;
use service_runtime::script::LuaScript;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

static DATA_WARM: LuaScript<i64> = LuaScript::new(include_str!("game_data/data_warm.lua"));

/// What warming one kind did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Warmed {
    /// Written at this version.
    Written { version: i64, documents: usize },
    /// The cache already held this version (or a newer one).
    Current { version: i64 },
    /// Another instance is warming it right now.
    Busy,
    /// PostgreSQL has no such kind (nothing is written for it).
    Unknown,
}

/// Warms one kind from PostgreSQL. `force` rewrites it even at the same version.
pub async fn warm_kind(shared: &Shared, kind: &str, force: bool) -> anyhow::Result<Warmed> {
    let keys = shared.ctx.keys.data(kind);
    let lease = Lease::with_owner(
        keys.warm_lease(),
        shared.ctx.instance_id.clone(),
        Duration::from_millis(shared.config.warmer.lease_ms),
    );
    if !lease.try_acquire(&shared.ctx.redis).await? {
        return Ok(Warmed::Busy);
    }
    let result = write_snapshot(shared, kind, &lease, force).await;
    if let Err(err) = lease.release(&shared.ctx.redis).await {
        tracing::debug!(kind, error = %err, "could not release a warm lease; it lapses by itself");
    }
    let warmed = result?;
    if let Warmed::Written { version, documents } = &warmed {
        metrics::counter!("rallypoint_data_warms_total").increment(1);
        tracing::info!(kind, version, documents, "game data warmed into the cache");
        shared
            .announce_change(Some(kind.to_owned()), Vec::new())
            .await;
    }
    Ok(warmed)
}

async fn write_snapshot(
    shared: &Shared,
    kind: &str,
    lease: &Lease,
    force: bool,
) -> anyhow::Result<Warmed> {
    let snapshot = shared
        .db
        .observe(game_data::snapshot(&shared.db.pool, kind).await)?;
    if snapshot.version == 0 {
        return Ok(Warmed::Unknown);
    }
    let mut args = Vec::with_capacity(3 + snapshot.documents.len() * 2);
    args.push(lease.owner().to_owned());
    args.push(snapshot.version.to_string());
    args.push(if force { "1" } else { "0" }.to_owned());
    for (id, document) in &snapshot.documents {
        args.push(id.clone());
        args.push(document.clone());
    }
    let written: i64 = DATA_WARM
        .run(
            &shared.ctx.redis,
            core_keys::scripts::data_warm(&shared.ctx.keys, kind),
            args,
        )
        .await?;
    Ok(match written {
        1 => Warmed::Written {
            version: snapshot.version,
            documents: snapshot.documents.len(),
        },
        -1 => Warmed::Busy,
        _ => Warmed::Current {
            version: snapshot.version,
        },
    })
}

/// Every kind whose cached version differs from PostgreSQL's, warmed. Returns how many
/// were written.
pub async fn refresh(shared: &Shared) -> anyhow::Result<usize> {
    let versions = shared
        .db
        .observe(game_data::versions(&shared.db.pool).await)?;
    if !versions.is_empty() {
        let kinds: Vec<&str> = versions.iter().map(|(kind, _)| kind.as_str()).collect();
        let _: i64 = shared
            .ctx
            .redis
            .sadd(shared.ctx.keys.data_kinds(), kinds)
            .await?;
    }
    let mut written = 0;
    for (kind, version) in versions {
        let cached: Option<i64> = shared
            .ctx
            .redis
            .get(shared.ctx.keys.data(&kind).version())
            .await?;
        if cached == Some(version) {
            continue;
        }
        if matches!(
            warm_kind(shared, &kind, false).await?,
            Warmed::Written { .. }
        ) {
            written += 1;
        }
    }
    Ok(written)
}

/// The game-data worker: a refresh at start and on the timer; reloads on request.
pub async fn run(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<Option<String>>,
    stop: CancellationToken,
) {
    let mut timer = tokio::time::interval(Duration::from_millis(
        shared.config.warmer.data_refresh_interval_ms,
    ));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = timer.tick() => {
                if let Err(err) = refresh(&shared).await {
                    tracing::warn!(error = %err, "refreshing game data failed; the cache keeps what it has, next round retries");
                }
            }
            request = requests.recv() => {
                let Some(request) = request else { break };
                let outcome = match request {
                    Some(kind) => warm_kind(&shared, &kind, true).await.map(|_| ()),
                    None => refresh(&shared).await.map(|_| ()),
                };
                if let Err(err) = outcome {
                    tracing::warn!(error = %err, "reloading game data on request failed; the timer retries");
                }
            }
        }
    }
}
