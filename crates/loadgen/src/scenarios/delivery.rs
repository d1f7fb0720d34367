//! Counting deliveries: every message carries its send time and sequence number; the
//! ledger knows how many deliveries each sent message should have, the receivers count
//! what arrives and record the latency; at the end, anything short is lost and anything
//! over is duplicated.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rallypoint_client::proto::ServerMessage;
use rallypoint_client::{ClientError, Event};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clients::ErrorCounts;
use crate::figures::Report;
use crate::latency::{Latency, now_micros, read_stamp};
use crate::lock;
use crate::pace::Paced;

/// Who should get how many of each message, and who got how many.
#[derive(Debug)]
pub struct Ledger {
    /// Messages before this sequence number are the warm-up: counted, latency not kept.
    warm_until: u64,
    expected: Vec<AtomicU32>,
    received: Vec<AtomicU32>,
    delivered: AtomicU64,
    /// Deliveries of a sequence number never sent (a corrupted body).
    stray: AtomicU64,
    send_latency: Mutex<Latency>,
    errors: ErrorCounts,
}

impl Ledger {
    pub fn new(messages: u64, warm_until: u64) -> Arc<Self> {
        let n = usize::try_from(messages).unwrap_or(usize::MAX);
        Arc::new(Self {
            warm_until,
            expected: (0..n).map(|_| AtomicU32::new(0)).collect(),
            received: (0..n).map(|_| AtomicU32::new(0)).collect(),
            delivered: AtomicU64::new(0),
            stray: AtomicU64::new(0),
            send_latency: Mutex::new(Latency::new()),
            errors: ErrorCounts::default(),
        })
    }

    /// Records the outcome of sending message `seq` (started at `started`): on success it
    /// should reach `recipients`.
    pub fn sent(
        &self,
        seq: u64,
        started: Instant,
        outcome: Result<(), ClientError>,
        recipients: u32,
    ) {
        match outcome {
            Ok(()) => {
                if let Some(slot) = self.expected.get(seq as usize) {
                    slot.store(recipients, Ordering::Relaxed);
                }
                if seq >= self.warm_until {
                    lock(&self.send_latency).record(started.elapsed());
                }
            }
            Err(err) => self.errors.count(&err),
        }
    }

    pub(crate) fn received(&self, seq: u64) {
        match self.received.get(seq as usize) {
            Some(count) => {
                count.fetch_add(1, Ordering::Relaxed);
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.stray.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Deliveries still owed: those of messages the gateway took that have not arrived.
    /// Deliveries of a message whose send failed (it may have been published all the
    /// same) do not make up for one still on its way.
    fn missing(&self) -> u64 {
        self.expected
            .iter()
            .zip(&self.received)
            .map(|(expected, received)| {
                let expected = expected.load(Ordering::Relaxed);
                u64::from(expected.saturating_sub(received.load(Ordering::Relaxed)))
            })
            .sum()
    }

    /// Waits until every expected delivery arrived, or nothing arrived for `quiet`.
    pub async fn drain(&self, quiet: Duration) {
        let mut last = self.delivered();
        let mut last_change = Instant::now();
        while self.missing() > 0 && last_change.elapsed() < quiet {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.delivered();
            if now != last {
                last = now;
                last_change = Instant::now();
            }
        }
    }

    /// Adds the figures (rates, latencies, loss) and problems to `report`.
    pub fn report(
        &self,
        report: &mut Report,
        paced: &Paced,
        first_delivery_to_last: Duration,
        latency: &Latency,
    ) {
        let mut lost = 0_u64;
        let mut duplicated = 0_u64;
        let mut after_failed_send = 0_u64;
        for (expected, received) in self.expected.iter().zip(&self.received) {
            let expected = u64::from(expected.load(Ordering::Relaxed));
            let received = u64::from(received.load(Ordering::Relaxed));
            if expected == 0 {
                after_failed_send += received;
            } else {
                lost += expected.saturating_sub(received);
                duplicated += received.saturating_sub(expected);
            }
        }
        let delivered = self.delivered();
        report.figure("sent", paced.sent as f64, "messages");
        report.figure("send rate achieved", paced.per_second(), "msg/s");
        report.figure("delivered", delivered as f64, "messages");
        report.figure(
            "delivered per second",
            delivered as f64 / first_delivery_to_last.as_secs_f64().max(1e-3),
            "msg/s",
        );
        if self.warm_until > 0 {
            report.note(format!(
                "latencies leave out the first {} messages (the warm-up)",
                self.warm_until
            ));
        }
        report.percentiles("delivery latency", latency);
        report.percentiles("send reply latency", &lock(&self.send_latency));
        report.figure("lost", lost as f64, "messages");
        report.figure("duplicated", duplicated as f64, "messages");
        if lost > 0 {
            report.problem(format!("{lost} deliveries lost"));
        }
        if duplicated > 0 {
            report.problem(format!("{duplicated} deliveries duplicated"));
        }
        let stray = self.stray.load(Ordering::Relaxed);
        if stray > 0 {
            report.problem(format!("{stray} deliveries of messages never sent"));
        }
        if let Some(errors) = self.errors.summary() {
            report.note(format!(
                "sends refused or failed (not counted as lost): {errors}; {after_failed_send} deliveries of those arrived anyway"
            ));
        }
    }
}

/// What the receivers saw.
#[derive(Debug)]
pub struct Received {
    pub latency: Latency,
    /// From the first delivery to the last.
    pub span: Duration,
    /// Disconnections seen by receivers.
    pub disconnects: u64,
}

/// Reads every player's events until `stop`: each stamped body `pick` finds in a push is
/// counted in `ledger` and its latency recorded.
pub async fn receive(
    receivers: Vec<mpsc::Receiver<Event>>,
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    pick: fn(&ServerMessage) -> Option<&serde_json::Value>,
) -> Received {
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let last = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for mut events in receivers {
        let (ledger, stop, first, last) =
            (ledger.clone(), stop.clone(), first.clone(), last.clone());
        tasks.spawn(async move {
            let mut latency = Latency::new();
            let mut disconnects = 0_u64;
            // One wait for the stop, registered once: a fresh `cancelled()` per event
            // would take the token's lock twice per delivery.
            let stopped = stop.cancelled_owned();
            tokio::pin!(stopped);
            loop {
                let event = tokio::select! {
                    () = &mut stopped => break,
                    event = events.recv() => event,
                };
                let Some(event) = event else { break };
                match event {
                    Event::Push(message) => {
                        let Some((sent, seq)) = pick(&message).and_then(read_stamp) else {
                            continue;
                        };
                        let now = now_micros();
                        if seq >= ledger.warm_until {
                            latency.record_micros(now.saturating_sub(sent));
                        }
                        ledger.received(seq);
                        first.fetch_min(now, Ordering::Relaxed);
                        last.fetch_max(now, Ordering::Relaxed);
                    }
                    Event::Disconnected { .. } => disconnects += 1,
                    Event::Reconnected { .. } | Event::Closed { .. } => {}
                }
            }
            (latency, disconnects)
        });
    }
    let mut received = Received {
        latency: Latency::new(),
        span: Duration::ZERO,
        disconnects: 0,
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok((latency, disconnects)) = done {
            received.latency.merge(&latency);
            received.disconnects += disconnects;
        }
    }
    let (first, last) = (first.load(Ordering::Relaxed), last.load(Ordering::Relaxed));
    received.span = Duration::from_micros(last.saturating_sub(first));
    received
}

/// A delivery scenario's measured part, the same for `fanout` and `whisper`: `receivers`
/// are read while `send(seq, ledger)` runs at the timing's rate; then the stragglers are
/// awaited (bounded), and the report made with the gateways' CPU and memory.
pub async fn measure<F, Fut>(
    scenario: &str,
    settings: &impl serde::Serialize,
    common: &crate::cli::Common,
    timing: &crate::cli::Timing,
    receivers: Vec<mpsc::Receiver<Event>>,
    pick: fn(&ServerMessage) -> Option<&serde_json::Value>,
    send: F,
) -> anyhow::Result<Report>
where
    F: Fn(u64, Arc<Ledger>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let ledger = Ledger::new(timing.total(), timing.rate * timing.warmup);
    let stop = CancellationToken::new();
    let receiving = tokio::spawn(receive(receivers, ledger.clone(), stop.clone(), pick));
    // With Redis metered (make bench-peer), first what the servers and Redis burn with the
    // members connected and nothing sent (heartbeats, health checks, the cluster bus), so
    // the CPU the messages themselves cost can be told from it.
    let idle = if common.redis_pids.is_empty() {
        None
    } else {
        let idle = crate::procstat::Gateways::with_redis(&common.gateway_pids, &common.redis_pids)?;
        tokio::time::sleep(Duration::from_secs(common.idle_window_secs.max(1))).await;
        let (servers, redis) = idle.seconds();
        let seconds = idle.elapsed().as_secs_f64();
        Some((
            servers.unwrap_or(0.0) / seconds,
            redis.unwrap_or(0.0) / seconds,
        ))
    };
    let meters = crate::procstat::Gateways::with_redis(&common.gateway_pids, &common.redis_pids)?;
    let sending = crate::clients::bar(timing.total(), scenario);
    let paced = crate::pace::at_rate(timing.rate, timing.duration(), 4096, &sending, |seq| {
        send(seq, ledger.clone())
    })
    .await;
    sending.finish();
    ledger.drain(Duration::from_secs(3)).await;
    stop.cancel();
    let received = receiving.await?;
    let mut report = Report::new(scenario, settings);
    ledger.report(&mut report, &paced, received.span, &received.latency);
    report.figure("receiver disconnects", received.disconnects as f64, "");
    meters.report(&mut report);
    // CPU per operation: the figure that holds still on a shared machine.
    let (servers, redis) = meters.seconds();
    let window = meters.elapsed().as_secs_f64();
    let delivered = ledger.delivered().max(1) as f64;
    let sent = paced.sent.max(1) as f64;
    if let Some(seconds) = servers {
        report.figure("servers CPU", seconds, "s");
        report.figure("servers CPU per delivery", seconds * 1e6 / delivered, "µs");
    }
    if let Some(seconds) = redis {
        report.figure("Redis CPU", seconds, "s");
        report.figure("Redis CPU per message", seconds * 1e6 / sent, "µs");
    }
    if let (Some((idle_servers, idle_redis)), Some(servers), Some(redis)) = (idle, servers, redis) {
        report.figure("servers CPU idle", idle_servers * 100.0, "% of a core");
        report.figure("Redis CPU idle", idle_redis * 100.0, "% of a core");
        let above = |used: f64, idle: f64| (used - idle * window).max(0.0) * 1e6;
        report.figure(
            "servers CPU per delivery above idle",
            above(servers, idle_servers) / delivered,
            "µs",
        );
        report.figure(
            "Redis CPU per message above idle",
            above(redis, idle_redis) / sent,
            "µs",
        );
    }
    Ok(report)
}
