//! Player profiles in Redis (`{p:<id>}:profile`): who gets warmed, when, and the one write
//! path every profile change goes through ([`put`], `profile_put.lua`, version-checked).
//!
//! Players are warmed when a service asks (a `warm_profiles` event on `{warm}:requests`:
//! the gateway when a player connects, a reader that missed), and by a reconcile scan
//! that finds players with a session or a ticket but no cached profile (a lost request is
//! made good within `warmer.reconcile_interval_ms`). A player PostgreSQL has never seen
//! is created at the default rating. One instance at a time does this (lease); requests
//! gathered over a short window go to the database as one query, in a task of its own so
//! that a slow database never holds up the lease's renewal.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{Client, KeysInterface};
use futures::StreamExt;
use persistence::players::{self, Profile};
use service_runtime::lease::{Lease, LeaseKeeper, Transition};
use service_runtime::script::LuaScript;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

static PROFILE_PUT: LuaScript<i64> = LuaScript::new(include_str!("profiles/profile_put.lua"));

/// Writes `profiles` into the cache (each only if newer than the cached one), settling the
/// pending rating of `settled` (the match the change comes from) when given.
pub async fn put(
    redis: &Client,
    keys: &core_keys::Keys,
    profiles: &[Profile],
    settled: Option<&str>,
) -> Result<(), fred::error::Error> {
    let ttl = core_keys::ttl::PROFILE.as_millis().to_string();
    let writes = profiles.iter().map(|p| {
        PROFILE_PUT.run(
            redis,
            core_keys::scripts::profile_put(keys, &p.id),
            vec![
                p.version.to_string(),
                p.rating.to_string(),
                p.display_name.clone(),
                p.games_played.to_string(),
                ttl.clone(),
                settled.unwrap_or_default().to_owned(),
            ],
        )
    });
    for written in futures::future::join_all(writes).await {
        written?;
    }
    Ok(())
}

/// Loads `players` from PostgreSQL (creating new ones) and writes them into the cache.
pub async fn warm(shared: &Shared, players: &[String]) -> anyhow::Result<usize> {
    if players.is_empty() {
        return Ok(0);
    }
    let profiles = shared.db.observe(
        players::get_or_create(&shared.db.pool, players, shared.config.default_rating).await,
    )?;
    put(&shared.ctx.redis, &shared.ctx.keys, &profiles, None).await?;
    metrics::counter!("rallypoint_profiles_warmed_total").increment(profiles.len() as u64);
    // Their block lists too, where Redis does not have them (a connecting player's
    // gateway asks for both at once).
    crate::blocks::load(shared, players).await?;
    Ok(profiles.len())
}

/// The profile-warming worker: hears requests on every instance, acts on them only while
/// holding the lease.
pub async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let mut requests = match shared
        .ctx
        .subscriptions
        .subscribe(&shared.ctx.keys.warm_requests_channel())
        .await
    {
        Ok(requests) => requests,
        Err(err) => {
            tracing::error!(error = %err, "cannot subscribe to warm requests; profiles are warmed by the reconcile scan only");
            return reconcile_only(shared, stop).await;
        }
    };
    let mut keeper = LeaseKeeper::new(Lease::with_owner(
        shared.ctx.keys.profile_warm_lease(),
        shared.ctx.instance_id.clone(),
        Duration::from_millis(shared.config.warmer.lease_ms),
    ));
    let window = Duration::from_millis(shared.config.warmer.warm_batch_window_ms);
    let mut reconcile = tokio::time::interval(Duration::from_millis(
        shared.config.warmer.reconcile_interval_ms,
    ));
    let mut lease_tick =
        tokio::time::interval(service_runtime::lease::renew_interval(keeper.lease().ttl()));
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    // The reconcile scan walks the whole keyspace: it runs beside this loop (one at a
    // time), so requests are warmed and the lease renewed while it goes.
    let mut scan: Option<tokio::task::JoinHandle<()>> = None;
    // A warm runs beside this loop too (one at a time; what is asked meanwhile waits for
    // the next): run inside it, a warm that outlasted the lease (a slow database, a burst
    // of thousands of players on a busy machine) let the lease lapse, and every request
    // heard until it was taken again was dropped (`make bench`'s warm-up of 10,500 players
    // once lost 128 that way).
    let mut warming: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = lease_tick.tick() => {
                match keeper.check(&shared.ctx.redis).await {
                    Transition::Gained => {
                        tracing::info!("warming profiles: this instance holds the lease");
                        reconcile.reset_immediately();
                    }
                    Transition::Lost => tracing::info!("warming profiles: lease lost to another instance"),
                    Transition::Unchanged => {}
                }
            }
            _ = reconcile.tick() => {
                let scanning = scan.as_ref().is_some_and(|task| !task.is_finished());
                if keeper.is_held() && !scanning {
                    let shared = shared.clone();
                    scan = Some(tokio::spawn(async move { reconcile_once(&shared).await }));
                }
            }
            message = requests.recv() => {
                let Some(payload) = message else { break };
                collect(&shared, &payload, &mut wanted);
                // Gather what arrives within the window into one query.
                let deadline = tokio::time::sleep(window);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        () = &mut deadline => break,
                        more = requests.recv() => match more {
                            Some(payload) => collect(&shared, &payload, &mut wanted),
                            None => break,
                        },
                    }
                }
                if warming.is_none() {
                    warming = start_warm(&shared, &keeper, &mut wanted);
                }
            }
            // The warm running ended (a panic too): the next takes what was asked meanwhile.
            Some(_ended) = futures::future::OptionFuture::from(warming.as_mut()) => {
                warming = start_warm(&shared, &keeper, &mut wanted);
            }
        }
    }
    for task in [scan, warming].into_iter().flatten() {
        task.abort();
    }
    keeper.release(&shared.ctx.redis).await;
}

/// Starts warming what is `wanted` (taking it) in a task if this instance holds the lease;
/// drops it otherwise (the holder heard it too).
fn start_warm(
    shared: &Arc<Shared>,
    keeper: &LeaseKeeper,
    wanted: &mut BTreeSet<String>,
) -> Option<tokio::task::JoinHandle<()>> {
    let batch: Vec<String> = std::mem::take(wanted).into_iter().collect();
    if batch.is_empty() || !keeper.is_held() {
        return None;
    }
    let shared = shared.clone();
    Some(tokio::spawn(async move {
        if let Err(err) = warm(&shared, &batch).await {
            tracing::warn!(error = %err, players = batch.len(), "warming requested profiles failed; the reconcile scan retries");
        }
    }))
}

async fn reconcile_only(shared: Arc<Shared>, stop: CancellationToken) {
    let mut keeper = LeaseKeeper::new(Lease::with_owner(
        shared.ctx.keys.profile_warm_lease(),
        shared.ctx.instance_id.clone(),
        Duration::from_millis(shared.config.warmer.lease_ms),
    ));
    let mut reconcile = tokio::time::interval(Duration::from_millis(
        shared.config.warmer.reconcile_interval_ms,
    ));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = reconcile.tick() => {
                keeper.check(&shared.ctx.redis).await;
                if keeper.is_held() {
                    reconcile_once(&shared).await;
                }
            }
        }
    }
    keeper.release(&shared.ctx.redis).await;
}

/// Adds the players a `warm_profiles` or `cache_invalidate` event names; passes a
/// dataset it names to the game-data worker.
fn collect(shared: &Shared, payload: &[u8], wanted: &mut BTreeSet<String>) {
    match proto::decode_event(payload, proto::MAX_EVENT_BYTES) {
        Ok(envelope) => match envelope.event {
            proto::Event::WarmProfiles { players } => {
                wanted.extend(players.iter().map(ToString::to_string));
            }
            proto::Event::CacheInvalidate { dataset, players } => {
                wanted.extend(players.iter().map(ToString::to_string));
                if (dataset.is_some() || players.is_empty())
                    && shared.data_requests.try_send(dataset).is_err()
                {
                    tracing::debug!(
                        "game data reload requests are piling up; this one is dropped (its sender asks again)"
                    );
                }
            }
            other => {
                tracing::debug!(
                    event = other.type_name(),
                    "ignoring an event on the warm channel"
                );
            }
        },
        Err(err) => {
            metrics::counter!("rallypoint_events_undecodable_total").increment(1);
            tracing::debug!(error = %err, "undecodable warm request");
        }
    }
}

/// Finds players with a session or a ticket but no cached profile, and warms them.
async fn reconcile_once(shared: &Shared) {
    let mut missing = Vec::new();
    for kind in ["session", "ticket"] {
        let pattern = format!("{}:{{p:*}}:{kind}", shared.ctx.keys.namespace());
        let prefix = format!("{}:{{p:", shared.ctx.keys.namespace());
        let suffix = format!("}}:{kind}");
        let mut keys = std::pin::pin!(shared.ctx.redis.scan_cluster_buffered(
            pattern,
            Some(1000),
            None
        ));
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            match key {
                Ok(key) => {
                    let player = key
                        .as_str()
                        .and_then(|k| k.strip_prefix(&prefix))
                        .and_then(|k| k.strip_suffix(&suffix));
                    if let Some(player) = player {
                        found.push(player.to_owned());
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "reconcile scan interrupted; next round retries");
                    return;
                }
            }
        }
        // In slices, so a large online population is not one burst of commands.
        for slice in found.chunks(500) {
            let checks = slice.iter().map(|p| {
                let key = shared.ctx.keys.player(p).profile();
                async move { (p, shared.ctx.redis.exists::<u32, _>(key).await) }
            });
            for (player, exists) in futures::future::join_all(checks).await {
                if matches!(exists, Ok(0)) {
                    missing.push(player.clone());
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return;
    }
    for chunk in missing.chunks(500) {
        match warm(shared, chunk).await {
            Ok(n) => tracing::info!(
                players = n,
                "reconcile: warmed profiles of players online or queued without one"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "reconcile: warming profiles failed; next round retries");
                return;
            }
        }
    }
}
