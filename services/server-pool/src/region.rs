//! The worker of one region, run by the pool instance holding the region's allocator
//! lease. Each tick (and at once on a `match_formed` hint) it gives the region's pending
//! matches, oldest first, a few dozen in flight at once, to servers with room and
//! announces them (`matches::allocation`, `matches::announce`). Every [`SWEEP_EVERY`] it
//! sweeps: announcements a crashed instance left undone, matches past their deadlines
//! (`matches::cancel`), cancellations left half-done. Every `reap_interval_ms` it reaps
//! servers whose heartbeat lapsed ([`crate::reaper`]) and refreshes the region's gauges.
//!
//! The sweep is not on every wake-up: under load the hints wake the loop hundreds of
//! times a second, and the sweep's four scans of the region's sets were most of the
//! pool's Redis commands per match (measured: about 11 per match at 450 matches/s).
//!
//! What each step does to a match lives in the `matches` crate; this loop decides when,
//! how many, and under which lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use matches::announce::{Announced, Assigned};
use matches::{Allocation, AllocationRequest};
use metrics::{Counter, Histogram};
use service_runtime::clock::now_ms;
use service_runtime::lease::{Lease, LeaseKeeper, Transition};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::reaper::ReapGate;
use crate::state::Shared;

/// Pending matches looked at per tick.
const BATCH: i64 = 256;
/// Candidate servers per allocation (the least loaded with room).
const CANDIDATES: usize = 16;
/// Allocations (and announcements) in flight at once.
const IN_FLIGHT: usize = 32;
/// Batches worked through per wake-up at most, so a backlog need not wait for the ticks.
const ROUNDS: usize = 8;
/// How often the region is swept for work left over or overdue: a deadline
/// (`allocate_timeout_ms`, `ack_timeout_ms`) is acted on at most this late.
pub const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// The region's allocation metrics, labelled once rather than per allocation.
struct RegionMetrics {
    allocations: Counter,
    wait: Histogram,
}

impl RegionMetrics {
    fn new(region: &str) -> Self {
        Self {
            allocations: metrics::counter!("rallypoint_pool_allocations_total", "region" => region.to_owned()),
            wait: metrics::histogram!("rallypoint_pool_allocation_wait_seconds", "region" => region.to_owned()),
        }
    }
}

/// Allocates for `region` until `stop`, while holding its lease.
pub async fn run(
    shared: Arc<Shared>,
    region: String,
    share: Arc<service_runtime::lease::FairShare>,
    stop: CancellationToken,
) {
    let config = &shared.config.pool;
    let region_metrics = RegionMetrics::new(&region);
    let pool = shared.ctx.keys.pool(&region);
    let owner = format!("{}/{region}", shared.ctx.instance_id);
    let mut lease = LeaseKeeper::new(Lease::with_owner(
        pool.allocator_lease(),
        &owner,
        Duration::from_millis(config.lease_ms),
    ))
    .with_unit_gauges(crate::ops::region_gauges(&region))
    .with_share(share);
    // Hints wake the loop early; the tick catches whatever a lost hint would have said.
    let woken = Arc::new(Notify::new());
    // A backfill's fill is looked for when one is hinted, and every announce_retry_ms
    // (a lost hint, a crashed instance): not on every wake-up, which matches cause by the
    // hundred a second.
    let fills_hinted = Arc::new(AtomicBool::new(true));
    let hints = {
        let (woken, fills_hinted) = (woken.clone(), fills_hinted.clone());
        shared
            .ctx
            .subscriptions
            .subscribe_with(&pool.events_channel(), move |payload| {
                if let Ok(envelope) = proto::decode_event(&payload, proto::MAX_EVENT_BYTES)
                    && matches!(envelope.event, proto::Event::MatchBackfilled { .. })
                {
                    fills_hinted.store(true, Ordering::Relaxed);
                }
                woken.notify_one();
            })
            .await
    };
    let fill_every = Duration::from_millis(config.announce_retry_ms);
    let mut next_fill_check = tokio::time::Instant::now();
    if let Err(err) = &hints {
        tracing::warn!(region, error = %err, "no allocation hints; allocating on the tick only");
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(config.tick_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reap_every = Duration::from_millis(config.reap_interval_ms);
    let mut next_reap = tokio::time::Instant::now();
    let mut next_sweep = tokio::time::Instant::now();
    let mut gate = ReapGate::new(
        Duration::from_millis(config.heartbeat_ttl_ms),
        Duration::from_millis(config.lease_ms),
        tokio::time::Instant::now(),
    );
    let reap_rounds =
        metrics::counter!("rallypoint_pool_reap_rounds_total", "region" => region.clone());
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
            () = woken.notified() => {}
        }
        gate.round(tokio::time::Instant::now());
        match lease.check(&shared.ctx.redis).await {
            Transition::Gained => {
                tracing::info!(region, "allocating for the region");
                gate.close(tokio::time::Instant::now(), "the region was just taken");
            }
            Transition::Lost => tracing::info!(region, "no longer allocating for the region"),
            Transition::Unchanged => {}
        }
        if !lease.is_held() {
            continue;
        }
        if !shared.ctx.redis_health.is_up() {
            gate.close(tokio::time::Instant::now(), "redis is unavailable");
        }
        let sweep = tokio::time::Instant::now() >= next_sweep;
        if sweep {
            next_sweep = tokio::time::Instant::now() + SWEEP_EVERY;
            // Announcements a crashed instance left undone.
            if let Err(err) = shared
                .announcer
                .announce_left_over(&region, config.announce_retry_ms, BATCH, IN_FLIGHT)
                .await
            {
                gate.close(
                    tokio::time::Instant::now(),
                    "announcing left-over matches failed",
                );
                tracing::warn!(region, error = %err, "announcing left-over matches failed; retrying next sweep");
            }
        }
        if let Err(err) =
            allocate_pending(&shared, &region, lease.lease().owner(), &region_metrics).await
        {
            if matches!(err, AllocateError::NotHolder) {
                lease.lost();
                continue;
            }
            gate.close(tokio::time::Instant::now(), "an allocation round failed");
            metrics::counter!("rallypoint_pool_allocator_errors_total").increment(1);
            tracing::warn!(region, error = %err, "an allocation round failed; retrying next tick");
        }
        let now = tokio::time::Instant::now();
        if fills_hinted.swap(false, Ordering::Relaxed) || now >= next_fill_check {
            next_fill_check = now + fill_every;
            if let Err(err) = add_fills(&shared, &region).await {
                fills_hinted.store(true, Ordering::Relaxed);
                tracing::warn!(region, error = %err, "adding backfilled players failed; retrying");
            }
        }
        if sweep && let Err(err) = cancel_overdue(&shared, &region).await {
            gate.close(
                tokio::time::Instant::now(),
                "cancelling overdue matches failed",
            );
            tracing::warn!(region, error = %err, "cancelling overdue matches failed; retrying next sweep");
        }
        if tokio::time::Instant::now() >= next_reap {
            next_reap = tokio::time::Instant::now() + reap_every;
            // Leftovers of work done at once elsewhere, so once per reap interval: games
            // whose server no longer runs them, and pending ratings whose result never
            // got recorded.
            shared.end_orphaned(&region).await;
            if let Err(err) = shared.matches.clear_stale_rating_marks(&region).await {
                tracing::warn!(region, error = %err, "clearing stale pending ratings failed; retrying");
            }
            // The stall check again, just before judging: a pause in the middle of this
            // round (awaiting Redis above) must close the gate too, not only one between
            // rounds (measured: a SIGSTOP during an allocation round let the resumed
            // round reap a live server whose heartbeats could not reach a stopped pool).
            gate.round(tokio::time::Instant::now());
            if gate.is_open(tokio::time::Instant::now()) {
                reap_rounds.increment(1);
                if let Err(err) = crate::reaper::reap(&shared, &region).await {
                    gate.close(tokio::time::Instant::now(), "reaping failed");
                    tracing::warn!(region, error = %err, "reaping failed; retrying");
                }
            }
            // The autoscaling signals: free capacity and matches waiting for a server.
            if let Err(err) =
                crate::ops::region_stats(&shared, &region, crate::ops::Gauges::Publish).await
            {
                tracing::debug!(region, error = %err, "cannot refresh the region's gauges");
            }
        }
    }
    lease.release(&shared.ctx.redis).await;
    drop(hints);
}

/// Players backfills took for running matches: added to their match, then told.
async fn add_fills(shared: &Shared, region: &str) -> Result<(), fred::error::Error> {
    let fills = shared.matches.apply_fills(region, BATCH).await?;
    shared.announcer.announce_fills(region, fills).await
}

/// Cancels the matches past their deadlines (no server in time, not acknowledged in
/// time) and finishes cancellations left half-done; a draining server that ran its last
/// game leaves the registry too.
async fn cancel_overdue(shared: &Shared, region: &str) -> Result<(), fred::error::Error> {
    let config = &shared.config.pool;
    let mut servers_left = Vec::new();
    let cancelled = shared
        .matches
        .cancel_overdue(
            region,
            config.allocate_timeout_ms,
            config.ack_timeout_ms,
            &mut servers_left,
        )
        .await;
    for server in servers_left {
        shared.registry.forget_drained(&server).await?;
        tracing::info!(
            server,
            region,
            "a draining server's last match was cancelled; it left the pool"
        );
    }
    cancelled
}

#[derive(Debug, thiserror::Error)]
enum AllocateError {
    #[error("redis: {0}")]
    Redis(fred::error::Error),
    #[error("the allocator lease was lost")]
    NotHolder,
}

service_runtime::redis_error_from!(AllocateError::Redis);

async fn allocate_pending(
    shared: &Shared,
    region: &str,
    owner: &str,
    region_metrics: &RegionMetrics,
) -> Result<(), AllocateError> {
    // Rounds end well within the lease, which is renewed between wake-ups.
    let started = tokio::time::Instant::now();
    let budget =
        service_runtime::lease::renew_interval(Duration::from_millis(shared.config.pool.lease_ms));
    // A round's allocations are confirmed by a replica and announced while the next round
    // allocates, so the wait for the replica costs no throughput.
    let mut allocated: Vec<Done> = Vec::new();
    for _ in 0..ROUNDS {
        let pending = shared.matches.pending(region, BATCH).await?;
        if pending.is_empty() {
            break;
        }
        let candidates = shared.matches.candidates(region, CANDIDATES).await?;
        if candidates.is_empty() {
            // No server has room: the matches wait.
            break;
        }
        let count = pending.len();
        let round = Round {
            shared,
            region,
            owner,
            candidates: &candidates,
            region_metrics,
        };
        let (this_round, previous) = futures::future::join(
            round.allocate(pending),
            confirm_and_announce(shared, region, std::mem::take(&mut allocated)),
        )
        .await;
        let (this_round, full) = this_round?;
        allocated = this_round;
        if !previous? || full || count < BATCH as usize || started.elapsed() >= budget {
            break;
        }
    }
    confirm_and_announce(shared, region, allocated).await?;
    Ok(())
}

/// One round of allocations: what it needs.
struct Round<'a> {
    shared: &'a Shared,
    region: &'a str,
    owner: &'a str,
    candidates: &'a [String],
    region_metrics: &'a RegionMetrics,
}

impl Round<'_> {
    /// Allocates `pending`, oldest first, several at once: each allocation is one atomic
    /// script that checks capacity itself, so running them side by side only saves round
    /// trips (one at a time, a region topped out at a few hundred allocations a second).
    /// Once one finds no room the rest are not tried (on a full region that would be a
    /// script per waiting match on every wake-up). The matches given a server, and whether
    /// the region was found full.
    async fn allocate(
        &self,
        pending: Vec<(String, f64)>,
    ) -> Result<(Vec<Done>, bool), AllocateError> {
        let full = &AtomicBool::new(false);
        let assigned = futures::stream::iter(pending)
            .map(|(match_id, formed_ms)| async move {
                if full.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                match allocate_one(self, &match_id, formed_ms).await? {
                    Allocated::Assigned(assigned) => return Ok(Some(assigned)),
                    Allocated::NoCapacity => full.store(true, Ordering::Relaxed),
                    Allocated::Gone => {}
                }
                Ok::<Option<Done>, AllocateError>(None)
            })
            .buffered(IN_FLIGHT)
            .try_filter_map(|assigned| async move { Ok(assigned) })
            .try_collect::<Vec<Done>>()
            .await?;
        Ok((assigned, full.load(Ordering::Relaxed)))
    }
}

/// Announces `allocated` once a replica has them (one `WAIT` for the lot), then takes them
/// out of the region's to-announce set and wakes each of their servers once. `false` if no replica confirmed them in time: they
/// stay in that set and a later round announces them.
async fn confirm_and_announce(
    shared: &Shared,
    region: &str,
    allocated: Vec<Done>,
) -> Result<bool, AllocateError> {
    if allocated.is_empty() {
        return Ok(true);
    }
    if let Err(not_replicated) = shared.matches.confirm_allocations(region).await? {
        tracing::warn!(region, error = %not_replicated, "allocations not confirmed by a replica in time; they are announced by a later round");
        return Ok(false);
    }
    let announced = futures::stream::iter(allocated)
        .map(|done| async move {
            let assigned = Assigned {
                region,
                match_id: &done.match_id,
                server: &done.server,
                address: &done.address,
            };
            shared
                .announcer
                .announce(assigned, done.record.as_deref())
                .await?;
            Ok::<Announced, AllocateError>(Announced {
                match_id: done.match_id,
                server: Some(done.server),
            })
        })
        .buffered(IN_FLIGHT)
        .try_collect::<Vec<Announced>>()
        .await?;
    shared.announcer.announced(region, announced).await?;
    Ok(true)
}

/// A match given a server, to announce once confirmed.
struct Done {
    match_id: String,
    server: String,
    address: String,
    record: Option<Box<queues::MatchRecord>>,
}

/// What became of one pending match.
enum Allocated {
    Assigned(Done),
    NoCapacity,
    /// Not pending any more (allocated, cancelled or ended meanwhile).
    Gone,
}

/// Gives one match a server among `candidates` (the caller announces it once confirmed,
/// then takes it out of the to-announce set).
async fn allocate_one(
    round: &Round<'_>,
    match_id: &str,
    formed_ms: f64,
) -> Result<Allocated, AllocateError> {
    let request = AllocationRequest {
        region: round.region,
        match_id,
        owner: round.owner,
        candidates: round.candidates,
    };
    let region_metrics = round.region_metrics;
    // Tests pause the process here to prove the allocation is fenced by the lease.
    service_runtime::hold::point("pool.allocate").await;
    match round.shared.matches.allocate(request).await? {
        Allocation::Assigned {
            server,
            address,
            record,
        } => {
            region_metrics.allocations.increment(1);
            let waited = now_ms().saturating_sub(formed_ms as u64);
            region_metrics.wait.record(waited as f64 / 1000.0);
            Ok(Allocated::Assigned(Done {
                match_id: match_id.to_owned(),
                server,
                address,
                record,
            }))
        }
        Allocation::NotHolder => Err(AllocateError::NotHolder),
        Allocation::NoCapacity => Ok(Allocated::NoCapacity),
        Allocation::NotPending => Ok(Allocated::Gone),
    }
}
