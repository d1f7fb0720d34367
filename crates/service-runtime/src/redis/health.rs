//! Whether Redis is reachable right now, as readiness and `/metrics` report it.
//!
//! A probe pings every master of the cluster on a timer (a dead shard makes the service
//! unready, not just a dead seed node); fred's error events mark Redis down at once, so
//! readiness turns 503 without waiting for the next probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::{Client, ClientLike, ClusterInterface, EventInterface};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Redis as the service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Not probed yet.
    Starting,
    Up,
    /// Unreachable or failing, with the reason an operator reads in `/health/ready`.
    Down(String),
}

/// A shared, watchable view of Redis availability.
#[derive(Debug, Clone)]
pub struct RedisHealth {
    state: Arc<watch::Sender<Availability>>,
    /// When Redis, reachable before, stopped answering (None: up, or never reached).
    down_since: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Default for RedisHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl RedisHealth {
    pub fn new() -> Self {
        Self {
            state: Arc::new(watch::Sender::new(Availability::Starting)),
            down_since: Arc::default(),
        }
    }

    /// The current state.
    pub fn current(&self) -> Availability {
        self.state.borrow().clone()
    }

    /// Whether Redis answered the last probe.
    pub fn is_up(&self) -> bool {
        matches!(*self.state.borrow(), Availability::Up)
    }

    /// How long Redis has been unreachable, when it was reachable before (an outage, such
    /// as a failover); `None` while it is up, or before it was ever reached.
    pub fn outage(&self) -> Option<std::time::Duration> {
        self.down_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map(|since| since.elapsed())
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<Availability> {
        self.state.subscribe()
    }

    pub(crate) fn set(&self, next: Availability) {
        self.state.send_if_modified(|current| {
            if *current == next {
                return false;
            }
            match &next {
                Availability::Up => tracing::info!("redis is reachable"),
                Availability::Down(reason) => {
                    tracing::warn!(%reason, "redis is unavailable; retrying")
                }
                Availability::Starting => {}
            }
            {
                let mut since = self
                    .down_since
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match (&*current, &next) {
                    (Availability::Up, Availability::Down(_)) => {
                        *since = Some(std::time::Instant::now());
                    }
                    (_, Availability::Up) => *since = None,
                    _ => {}
                }
            }
            metrics::gauge!("rallypoint_redis_up").set(if next == Availability::Up {
                1.0
            } else {
                0.0
            });
            *current = next;
            true
        });
    }

    /// Probes `client` every `interval` until `stop`, keeping the state current.
    pub fn spawn_probe(
        &self,
        client: Client,
        interval: Duration,
        timeout: Duration,
        stop: CancellationToken,
    ) {
        let health = self.clone();
        let mut errors = client.error_rx();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticker.tick() => {
                        record_command_metrics(&client);
                        let started = Instant::now();
                        let result = probe(&client, timeout).await;
                        metrics::histogram!("rallypoint_redis_probe_seconds").record(started.elapsed().as_secs_f64());
                        match result {
                            Ok(()) => health.set(Availability::Up),
                            Err(reason) => health.set(Availability::Down(reason)),
                        }
                    }
                    err = errors.recv() => match err {
                        Ok((err, server)) => {
                            metrics::counter!("rallypoint_redis_connection_errors_total").increment(1);
                            let at = server.map(|s| s.to_string()).unwrap_or_else(|| "redis".to_owned());
                            health.set(Availability::Down(format!("{at}: {err}")));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
    }
}

/// Moves what fred measured of every command since the last call into the metrics:
/// how many completed, their total and worst latency (fred measures in whole ms, from
/// the call to the reply, queueing and retries included), redeliveries after a lost
/// connection, and commands waiting to be written. The average latency is
/// `rate(rallypoint_redis_command_milliseconds_total) / rate(rallypoint_redis_commands_total)`.
fn record_command_metrics(client: &Client) {
    use fred::interfaces::MetricsInterface;
    let latency = client.take_latency_metrics();
    metrics::counter!("rallypoint_redis_commands_total").increment(latency.samples);
    // Whole milliseconds, as fred measures them (a counter only counts integers).
    metrics::counter!("rallypoint_redis_command_milliseconds_total")
        .increment(latency.sum.max(0) as u64);
    metrics::gauge!("rallypoint_redis_command_max_seconds").set(latency.max.max(0) as f64 / 1000.0);
    metrics::counter!("rallypoint_redis_redeliveries_total")
        .increment(client.take_redelivery_count() as u64);
    metrics::gauge!("rallypoint_redis_command_backlog").set(client.command_queue_len() as f64);
}

/// Counts a command that failed, by fred's error kind (`timeout`, `io`, `cluster`,
/// ...): every conversion of a Redis error into a service's own error calls this, so
/// `rallypoint_redis_command_errors_total` counts each failure once.
pub fn count_error(err: &fred::error::Error) {
    metrics::counter!("rallypoint_redis_command_errors_total", "kind" => kind_label(err.kind()))
        .increment(1);
}

/// A short, stable label for an error kind (fred's own names have spaces and capitals).
fn kind_label(kind: &fred::error::ErrorKind) -> &'static str {
    use fred::error::ErrorKind;
    match kind {
        ErrorKind::Timeout => "timeout",
        ErrorKind::IO => "io",
        ErrorKind::Cluster => "cluster",
        ErrorKind::Routing => "routing",
        ErrorKind::Auth => "auth",
        ErrorKind::Canceled => "canceled",
        ErrorKind::Backpressure => "backpressure",
        ErrorKind::Protocol => "protocol",
        ErrorKind::Parse => "parse",
        ErrorKind::InvalidArgument | ErrorKind::InvalidCommand => "invalid",
        ErrorKind::NotFound => "not_found",
        _ => "other",
    }
}

/// Pings every known master (or the one node), each within `timeout`.
async fn probe(client: &Client, timeout: Duration) -> Result<(), String> {
    let masters = client
        .cached_cluster_state()
        .map(|state| state.unique_primary_nodes())
        .unwrap_or_default();
    let ping = |target: Option<fred::types::config::Server>| async move {
        let answer = match &target {
            Some(server) => {
                tokio::time::timeout(
                    timeout,
                    client.with_cluster_node(server).ping::<String>(None),
                )
                .await
            }
            None => tokio::time::timeout(timeout, client.ping::<String>(None)).await,
        };
        let at = target
            .map(|s| s.to_string())
            .unwrap_or_else(|| "redis".to_owned());
        match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(format!("{at}: {err}")),
            Err(_) => Err(format!("{at}: no answer within {} ms", timeout.as_millis())),
        }
    };
    if masters.is_empty() {
        return ping(None).await;
    }
    // A command aimed at a node fred holds no connection to makes fred reconnect every
    // node, so a master without a connection is reported, not pinged.
    let connected = client.active_connections();
    if let Some(missing) = masters.iter().find(|m| !connected.contains(m)) {
        return Err(format!("{missing}: not connected"));
    }
    let results = futures::future::join_all(masters.into_iter().map(|m| ping(Some(m)))).await;
    results
        .into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use fred::error::{Error, ErrorKind};

    #[derive(Debug)]
    enum StoreError {
        Redis(Error),
    }
    crate::redis_error_from!(StoreError::Redis);

    #[test]
    fn every_converted_redis_error_is_counted_once_by_kind() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let converted: StoreError = Error::new(ErrorKind::Timeout, "slow").into();
            let StoreError::Redis(inner) = converted;
            assert_eq!(inner.kind(), &ErrorKind::Timeout);
            let _: StoreError = Error::new(ErrorKind::Timeout, "slow again").into();
            super::count_error(&Error::new(ErrorKind::IO, "reset"));
        });
        let rendered = handle.render();
        assert!(
            rendered.contains(r#"rallypoint_redis_command_errors_total{kind="timeout"} 2"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"rallypoint_redis_command_errors_total{kind="io"} 1"#),
            "{rendered}"
        );
    }
}
