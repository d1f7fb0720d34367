//! Allocation: every region is worked by the instance holding its allocator lease. Each
//! tick (and at once on a `match_formed` hint) it takes the region's pending matches,
//! oldest first, a few dozen in flight at once, and gives each to the least-loaded live,
//! ready server with a free slot (`pool_allocate.lua`: atomic on the region's slot, so no
//! server is ever given more games than its capacity). Then it announces the match: the
//! match record written, then side by side `match.found` with each player's join token to
//! every player's inbox and a wake-up for the server's long poll. A match that was
//! allocated but not announced (the instance died in between) is announced again; the
//! batch's announced matches leave the to-announce set in one command at its end.
//!
//! The same worker cancels matches that found no server with room within
//! `allocate_timeout_ms` ([`crate::cancel`]) and reaps servers whose heartbeat lapsed
//! ([`crate::reaper`]), every `reap_interval_ms`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use core_keys::scripts;
use fred::prelude::{HashesInterface, SortedSetsInterface};
use fred::types::scripts::Script;
use futures::{StreamExt, TryStreamExt};
use proto::{Event, EventEnvelope, Id, ServerEndpoint, ServerMessage};
use queues::MatchRecord;
use service_runtime::lease::{Lease, LeaseKeeper, Transition};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::registry::{now_ms, teams};
use crate::state::Shared;
use metrics::{Counter, Histogram};
use proto::join_token::join_token;

static ALLOCATE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("allocator/pool_allocate.lua")));

/// Pending matches looked at per tick.
const BATCH: i64 = 256;
/// Candidate servers per allocation (the least loaded with room).
const CANDIDATES: i64 = 16;
/// Allocations (and announcements) in flight at once.
const IN_FLIGHT: usize = 32;
/// Batches worked through per wake-up at most, so a backlog need not wait for the ticks.
const ROUNDS: usize = 8;

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
    let pool = shared.keys.pool(&region);
    let owner = format!("{}/{region}", shared.instance_id);
    let mut lease = LeaseKeeper::new(Lease::with_owner(
        pool.allocator_lease(),
        &owner,
        Duration::from_millis(config.lease_ms),
    ))
    .with_unit_gauges(crate::ops::region_gauges(&region))
    .with_share(share);
    // Hints wake the loop early; the tick catches whatever a lost hint would have said.
    let woken = Arc::new(Notify::new());
    let hints = {
        let woken = woken.clone();
        shared
            .subscriptions
            .subscribe_with(&pool.events_channel(), move |_| woken.notify_one())
            .await
    };
    if let Err(err) = &hints {
        tracing::warn!(region, error = %err, "no allocation hints; allocating on the tick only");
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(config.tick_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reap_every = Duration::from_millis(config.reap_interval_ms);
    let mut next_reap = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
            () = woken.notified() => {}
        }
        match lease.check(&shared.redis).await {
            Transition::Gained => tracing::info!(region, "allocating for the region"),
            Transition::Lost => tracing::info!(region, "no longer allocating for the region"),
            Transition::Unchanged => {}
        }
        if !lease.is_held() {
            continue;
        }
        if let Err(err) =
            allocate_pending(&shared, &region, lease.lease().owner(), &region_metrics).await
        {
            if matches!(err, AllocateError::NotHolder) {
                lease.lost();
                continue;
            }
            metrics::counter!("rallypoint_pool_allocator_errors_total").increment(1);
            tracing::warn!(region, error = %err, "an allocation round failed; retrying next tick");
        }
        if let Err(err) = cancel_overdue(&shared, &region).await {
            tracing::warn!(region, error = %err, "cancelling overdue matches failed; retrying next tick");
        }
        if tokio::time::Instant::now() >= next_reap {
            next_reap = tokio::time::Instant::now() + reap_every;
            if let Err(err) = crate::reaper::reap(&shared, &region).await {
                tracing::warn!(region, error = %err, "reaping failed; retrying");
            }
            // The autoscaling signals: free capacity and matches waiting for a server.
            if let Err(err) =
                crate::ops::region_stats(&shared, &region, crate::ops::Gauges::Publish).await
            {
                tracing::debug!(region, error = %err, "cannot refresh the region's gauges");
            }
        }
    }
    lease.release(&shared.redis).await;
    drop(hints);
}

/// Cancels the matches that waited for a server longer than the deadline, and finishes
/// cancellations left half-done.
async fn cancel_overdue(shared: &Shared, region: &str) -> Result<(), fred::error::Error> {
    let before = now_ms().saturating_sub(shared.config.pool.allocate_timeout_ms) as f64;
    let overdue: Vec<String> = shared
        .redis
        .zrangebyscore(
            shared.keys.pool(region).pending(),
            "-inf",
            before,
            false,
            Some((0, BATCH)),
        )
        .await?;
    for match_id in overdue {
        crate::cancel::cancel(
            shared,
            region,
            &match_id,
            None,
            proto::server::reason::NO_SERVER,
            Some("pending"),
        )
        .await?;
    }
    // Matches a live server never acknowledged (it lost or ignored the assignment).
    let pool = shared.keys.pool(region);
    let before = now_ms().saturating_sub(shared.config.pool.ack_timeout_ms) as f64;
    let unacked: Vec<String> = shared
        .redis
        .zrangebyscore(pool.unacked(), "-inf", before, false, Some((0, BATCH)))
        .await?;
    for match_id in unacked {
        let server: Option<String> = shared
            .redis
            .hget(pool.pool_match(&match_id), "server")
            .await?;
        crate::cancel::cancel(
            shared,
            region,
            &match_id,
            server.as_deref(),
            proto::server::reason::NOT_STARTED,
            Some("assigned"),
        )
        .await?;
        // A match already started or ended leaves the set here.
        let _: i64 = shared.redis.zrem(pool.unacked(), &match_id).await?;
    }
    crate::cancel::finish_all(shared, region).await
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
    let pool = shared.keys.pool(region);
    let now = now_ms();
    // Announcements a crashed instance left undone.
    let retry_before = now.saturating_sub(shared.config.pool.announce_retry_ms) as f64;
    let unannounced: Vec<String> = shared
        .redis
        .zrangebyscore(
            pool.announce(),
            "-inf",
            retry_before,
            false,
            Some((0, BATCH)),
        )
        .await?;
    let announced = futures::stream::iter(unannounced)
        .map(|match_id| async move {
            announce(shared, region, &match_id).await?;
            Ok::<String, fred::error::Error>(match_id)
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<String>>()
        .await?;
    announced_all(shared, region, announced).await?;
    // Rounds end well within the lease, which is renewed between wake-ups.
    let started = tokio::time::Instant::now();
    let budget =
        service_runtime::lease::renew_interval(Duration::from_millis(shared.config.pool.lease_ms));
    for _ in 0..ROUNDS {
        let pending: Vec<(String, f64)> = shared
            .redis
            .zrange(pool.pending(), 0, BATCH - 1, None, false, None, true)
            .await?;
        if pending.is_empty() {
            break;
        }
        let candidates = candidates(shared, region).await?;
        if candidates.is_empty() {
            // No server has room: the matches wait.
            break;
        }
        // Oldest first, several at once: each allocation is one atomic script that checks
        // capacity itself, so running them side by side only saves round trips (one at a
        // time, a region topped out at a few hundred allocations a second).
        let count = pending.len();
        let candidates = &candidates;
        // Once one allocation finds no room, the rest of the batch is not tried (on a full
        // region that would be a script per waiting match on every wake-up).
        let full = &AtomicBool::new(false);
        let announced = futures::stream::iter(pending)
            .map(|(match_id, formed_ms)| async move {
                if full.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let outcome = allocate_one(
                    shared,
                    region,
                    owner,
                    &match_id,
                    formed_ms,
                    candidates,
                    region_metrics,
                )
                .await?;
                match outcome {
                    Allocated::Assigned => return Ok(Some(match_id)),
                    Allocated::NoCapacity => full.store(true, Ordering::Relaxed),
                    Allocated::Gone => {}
                }
                Ok::<Option<String>, AllocateError>(None)
            })
            .buffered(IN_FLIGHT)
            .try_filter_map(|announced| async move { Ok(announced) })
            .try_collect::<Vec<String>>()
            .await?;
        announced_all(shared, region, announced).await?;
        let full = full.load(Ordering::Relaxed);
        if full || count < BATCH as usize || started.elapsed() >= budget {
            break;
        }
    }
    Ok(())
}

/// The least-loaded servers with room, less those whose heartbeat lapsed (not reaped
/// yet): dead servers must not hide live ones with room.
async fn candidates(shared: &Shared, region: &str) -> Result<Vec<String>, fred::error::Error> {
    let pool = shared.keys.pool(region);
    let least_loaded: Vec<String> = shared
        .redis
        .zrangebyscore(
            pool.servers_by_load(),
            "-inf",
            "(1",
            false,
            Some((0, 4 * CANDIDATES)),
        )
        .await?;
    if least_loaded.is_empty() {
        return Ok(Vec::new());
    }
    let lapses: Vec<Option<f64>> = shared
        .redis
        .zmscore(pool.liveness(), least_loaded.clone())
        .await?;
    let now = now_ms() as f64;
    Ok(least_loaded
        .into_iter()
        .zip(lapses)
        .filter(|(_, lapse)| lapse.is_some_and(|at| at > now))
        .map(|(server, _)| server)
        .take(CANDIDATES as usize)
        .collect())
}

/// What became of one pending match.
enum Allocated {
    Assigned,
    NoCapacity,
    /// Not pending any more (allocated, cancelled or ended meanwhile).
    Gone,
}

/// Gives one match a server among `candidates` and announces it (the caller takes it out
/// of the to-announce set).
async fn allocate_one(
    shared: &Shared,
    region: &str,
    owner: &str,
    match_id: &str,
    formed_ms: f64,
    candidates: &[String],
    region_metrics: &RegionMetrics,
) -> Result<Allocated, AllocateError> {
    let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
    let mut args = vec![owner.to_owned(), match_id.to_owned(), now_ms().to_string()];
    args.extend(candidates.iter().cloned());
    let mut reply: Vec<String> = ALLOCATE
        .evalsha_with_reload(
            &shared.redis,
            scripts::pool_allocate(&shared.keys, region, match_id, &refs),
            args,
        )
        .await?;
    match reply.first().map(String::as_str) {
        Some("assigned") if reply.len() == 4 => {
            region_metrics.allocations.increment(1);
            let waited = now_ms().saturating_sub(formed_ms as u64);
            region_metrics.wait.record(waited as f64 / 1000.0);
            let record = reply.pop().unwrap_or_default();
            let address = reply.pop().unwrap_or_default();
            let server = reply.pop().unwrap_or_default();
            let record = serde_json::from_str::<MatchRecord>(&record).ok();
            let span = allocation_span(region, match_id, &server, record.as_ref());
            announce_assigned(shared, region, match_id, record, &server, address)
                .instrument(span)
                .await?;
            Ok(Allocated::Assigned)
        }
        Some("not_holder") => Err(AllocateError::NotHolder),
        Some("no_capacity") => Ok(Allocated::NoCapacity),
        _ => Ok(Allocated::Gone),
    }
}

/// The matches just announced leave the to-announce set: one command per batch. (An
/// instance that dies first leaves them there, and they are announced again: `match.found`
/// may come twice, as PROTOCOL.md allows.)
async fn announced_all(
    shared: &Shared,
    region: &str,
    announced: Vec<String>,
) -> Result<(), fred::error::Error> {
    if announced.is_empty() {
        return Ok(());
    }
    let _: i64 = shared
        .redis
        .zrem(shared.keys.pool(region).announce(), announced)
        .await?;
    Ok(())
}

/// Announces a match found in the to-announce set (left by an instance that died before
/// it announced): reads what it needs, then as [`announce_assigned`]. A match no longer
/// on its server (cancelled meanwhile) is only taken out of the set.
async fn announce(shared: &Shared, region: &str, match_id: &str) -> Result<(), fred::error::Error> {
    let pool = shared.keys.pool(region);
    let (record, server, address, state): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = shared
        .redis
        .hmget(
            pool.pool_match(match_id),
            vec!["record", "server", "address", "state"],
        )
        .await?;
    let record = record.and_then(|r| serde_json::from_str::<MatchRecord>(&r).ok());
    // Only a match still on its server is announced (not one cancelled meanwhile).
    let on_server = matches!(state.as_deref(), Some("assigned" | "started"));
    match (server, address, on_server) {
        (Some(server), Some(address), true) => {
            let span = allocation_span(region, match_id, &server, record.as_ref());
            announce_assigned(shared, region, match_id, record, &server, address)
                .instrument(span)
                .await
        }
        _ => Ok(()),
    }
}

/// The span of announcing an allocated match: it continues the trace of the match's
/// forming (and so of its players' `queue.join`), and the pushes it publishes carry it on
/// to the gateways.
fn allocation_span(
    region: &str,
    match_id: &str,
    server: &str,
    record: Option<&MatchRecord>,
) -> tracing::Span {
    let span = tracing::info_span!("match.allocate", region, match_id, server);
    service_runtime::trace::continue_from(&span, record.and_then(|r| r.trace.as_deref()));
    span
}

/// Tells the players their match and server, and wakes the server's long poll: the match
/// record first (so a player who reconnects is told again by the gateway), then the
/// pushes and the wake-up side by side. A record that cannot be read only gets its state.
async fn announce_assigned(
    shared: &Shared,
    region: &str,
    match_id: &str,
    record: Option<MatchRecord>,
    server: &str,
    address: String,
) -> Result<(), fred::error::Error> {
    let pool = shared.keys.pool(region);
    // The match record: its state and server, and (below) each player's match.found,
    // kept so a player who reconnects is told again by the gateway. One write.
    let mut record_fields: Vec<(String, String)> = vec![
        ("state".to_owned(), "assigned".to_owned()),
        ("server".to_owned(), server.to_owned()),
    ];
    let parsed = record.as_ref().map(|record| {
        (
            Id::parse(match_id),
            Id::parse(&record.queue),
            Id::parse(region),
            Id::parse(server),
            teams(record),
        )
    });
    if let (Some(record), Some((Ok(mid), Ok(queue), Ok(region_id), Ok(server_id), Some(teams)))) =
        (&record, parsed)
    {
        let secret = shared.config.pool.token.as_bytes();
        let messages: Vec<(String, ServerMessage)> = record
            .players()
            .map(|p| {
                let message = ServerMessage::MatchFound {
                    match_id: mid.clone(),
                    queue: queue.clone(),
                    region: region_id.clone(),
                    teams: teams.clone(),
                    server: ServerEndpoint {
                        id: server_id.clone(),
                        address: address.clone(),
                    },
                    join_token: join_token(secret, match_id, &p.player),
                };
                (p.player.clone(), message)
            })
            .collect();
        record_fields.extend(messages.iter().filter_map(|(player, message)| {
            let json = proto::encode_server(message, proto::Encoding::Json).ok()?;
            Some((
                format!("found:{player}"),
                String::from_utf8_lossy(&json).into_owned(),
            ))
        }));
        let _: i64 = shared
            .redis
            .hset(shared.keys.match_(match_id).record(), record_fields)
            .await?;
        let pushes = messages
            .into_iter()
            .map(|(player, message)| async move { deliver(shared, &player, message).await });
        let ready = Event::AssignmentReady {
            server: server_id,
            match_id: mid,
        };
        let wake_server = async {
            if let Some(payload) = encode(ready) {
                let _woken_or_polled_later = shared
                    .publisher
                    .publish(&pool.assignments_channel(server), payload)
                    .await;
            }
        };
        futures::future::join(futures::future::join_all(pushes), wake_server).await;
    } else {
        let _: i64 = shared
            .redis
            .hset(shared.keys.match_(match_id).record(), record_fields)
            .await?;
    }
    Ok(())
}

/// Pushes a message to a player (the runtime's one push path).
pub async fn deliver(shared: &Shared, player: &str, message: ServerMessage) {
    shared
        .publisher
        .push_to_player(&shared.keys, player, message)
        .await;
}

/// `event` in an envelope carrying the current span's trace context.
fn encode(event: Event) -> Option<Bytes> {
    let mut envelope = EventEnvelope::new(event, now_ms());
    envelope.trace = service_runtime::trace::carrier(&tracing::Span::current());
    match proto::encode_event(&envelope) {
        Ok(payload) => Some(payload),
        Err(err) => {
            tracing::error!(error = %err, "cannot encode an event");
            None
        }
    }
}
