//! Sharded pub/sub subscriptions that survive the cluster changing under them.
//!
//! fred does not restore `SSUBSCRIBE`s after a reconnect, a master failover or a slot
//! migration (docs/STACK.md, measured). This module owns every sharded subscription
//! of the process: it tracks each channel and the master it was subscribed on, and a
//! supervisor ([`supervisor`]) re-issues `SSUBSCRIBE` whenever that may have been lost:
//! - after fred reconnects to a node;
//! - when the slot map changes (it re-reads `CLUSTER SLOTS` on a timer and on fred's
//!   topology events) and a channel's slot now belongs to another master;
//! - when a shard's canary ([`canary`]) goes quiet: the supervisor publishes to a channel
//!   on every master each second and must hear it back, so a dead path is known within
//!   a few seconds whatever the cause.
//!
//! Several [`Subscription`]s of one channel share one `SSUBSCRIBE` (reference count);
//! the last one dropped unsubscribes. Each subscription has a bounded buffer: a consumer
//! that falls behind loses messages (counted), never the process's memory.

mod canary;
mod supervisor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{Client, ClusterInterface, PubsubInterface};
use fred::types::config::Server;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::publish::Publisher;

/// Timings and sizes of the subscription manager.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// Messages buffered per subscription.
    pub buffer: usize,
    /// How often the slot map is re-read.
    pub topology_check_interval: Duration,
    /// How often each shard's canary is published.
    pub canary_interval: Duration,
    /// A canary not heard for this long marks its shard's path dead.
    pub canary_timeout: Duration,
}

impl SubscriptionConfig {
    /// The manager's settings from `[redis]`.
    pub fn from_redis(config: &crate::redis::RedisConfig) -> Self {
        Self {
            buffer: config.subscription_buffer,
            topology_check_interval: Duration::from_millis(config.topology_check_interval_ms),
            canary_interval: Duration::from_millis(config.canary_interval_ms),
            canary_timeout: Duration::from_millis(config.canary_timeout_ms),
        }
    }
}

/// Why a subscription could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("SSUBSCRIBE {channel} failed: {source}")]
    Redis {
        channel: String,
        source: fred::error::Error,
    },
    #[error("the subscription manager has stopped")]
    Stopped,
}

/// What the supervisor did, for logs, metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorEvent {
    /// `channels` were subscribed again, and why. Whatever was published to them while
    /// they were not subscribed is gone: a service that owes its clients state (the
    /// gateway: a player's live match) sends it again.
    Resubscribed {
        reason: String,
        channels: Arc<[Arc<str>]>,
    },
    /// A shard's canary went quiet: its pub/sub path was dead.
    ShardPathDead {
        server: String,
        silent_for: Duration,
    },
}

/// Handle to the process's sharded subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct Subscriptions {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions")
            .field("channels", &self.channel_count())
            .finish()
    }
}

/// A stream of the messages of one channel. Dropping it unsubscribes (once no other
/// subscription of the channel is left).
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Bytes>,
    registration: Registration,
}

impl Subscription {
    /// The next message; `None` once the manager has stopped.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    /// The channel name.
    pub fn channel(&self) -> &str {
        &self.registration.channel
    }
}

/// A subscription whose messages are handed to a callback ([`Subscriptions::subscribe_with`]).
/// Dropping it unsubscribes, like a [`Subscription`].
#[derive(Debug)]
pub struct HandlerSubscription {
    registration: Registration,
}

impl HandlerSubscription {
    /// The channel name.
    pub fn channel(&self) -> &str {
        &self.registration.channel
    }
}

/// A callback taking a channel's messages. It runs on the dispatcher, inside the reader of
/// the subscriber's connection, which serves every channel of the process: it must be
/// quick and never block (decode, hand on with a `try_send`, count what it drops).
pub type Handler = Arc<dyn Fn(Bytes) + Send + Sync>;

/// Where one subscription's messages go.
enum Receiver {
    /// A bounded queue the subscriber reads ([`Subscription`]).
    Queue(mpsc::Sender<Bytes>),
    /// A callback ([`HandlerSubscription`]): no queue and no task per subscriber.
    Handler(Handler),
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Receiver::Queue(_) => "Queue",
            Receiver::Handler(_) => "Handler",
        })
    }
}

/// One subscriber's place in the channel table; dropping it takes the place away and,
/// for the last one, lets the supervisor unsubscribe.
#[derive(Debug)]
struct Registration {
    channel: Arc<str>,
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let now_empty = {
            let mut table = self.shared.table();
            match table.get_mut(&self.channel) {
                Some(entry) => {
                    entry.receivers.retain(|(id, _)| *id != self.id);
                    entry.receivers.is_empty()
                }
                None => false,
            }
        };
        if now_empty {
            // The supervisor unsubscribes (it may find a new subscriber arrived meanwhile).
            let _ignored_when_stopped = self.shared.released.send(self.channel.clone());
        }
    }
}

/// One tracked channel.
#[derive(Debug)]
struct Channel {
    slot: u16,
    /// The master the channel was last subscribed on; `None` until confirmed, or after
    /// the supervisor found the subscription lost.
    subscribed_on: Option<Server>,
    /// Whether it has been confirmed at all (single-node mode has no owner to record).
    confirmed: bool,
    /// Bumped whenever the subscription is found possibly lost, so an `SSUBSCRIBE` that
    /// was in flight across that moment does not mark the channel confirmed.
    epoch: u64,
    receivers: Vec<(u64, Receiver)>,
    /// Canary channels are owned by the supervisor and never released.
    canary: bool,
}

impl Channel {
    fn new(slot: u16, canary: bool) -> Self {
        Self {
            slot,
            subscribed_on: None,
            confirmed: false,
            epoch: 0,
            receivers: Vec::new(),
            canary,
        }
    }

    /// The subscription may be gone: the next check subscribes again.
    fn invalidate(&mut self) {
        self.confirmed = false;
        self.epoch += 1;
    }
}

/// State shared by the handle, the subscriptions, the dispatcher and the supervisor.
struct Shared {
    /// The connections in subscribe mode (never used for other commands).
    subscriber: Client,
    channels: Mutex<HashMap<Arc<str>, Channel>>,
    next_id: AtomicU64,
    buffer: usize,
    released: mpsc::UnboundedSender<Arc<str>>,
    events: broadcast::Sender<SupervisorEvent>,
    canaries: canary::Canaries,
    stop: CancellationToken,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// The channel table. A std mutex: it is never held across an await.
    fn table(&self) -> MutexGuard<'_, HashMap<Arc<str>, Channel>> {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The master that owns `slot` now; `None` on a single node or before the first
    /// slot map.
    fn owner_of(&self, slot: u16) -> Option<Server> {
        self.subscriber
            .cached_cluster_state()
            .and_then(|state| state.get_server(slot).cloned())
    }

    /// `SSUBSCRIBE` `channels` (all of one slot) and marks them confirmed on the master
    /// that owned the slot when the command was sent, unless the slot moved or a channel
    /// was invalidated meanwhile (then the next check tries again). Returns those
    /// confirmed.
    async fn ssubscribe(&self, channels: &[Arc<str>]) -> Result<Vec<Arc<str>>, fred::error::Error> {
        let Some(first) = channels.first() else {
            return Ok(Vec::new());
        };
        let slot = core_keys::slot_of(first);
        let owner_before = self.owner_of(slot);
        let epochs: Vec<Option<u64>> = {
            let table = self.table();
            channels
                .iter()
                .map(|c| table.get(c).map(|e| e.epoch))
                .collect()
        };
        let names: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        self.subscriber.ssubscribe(names).await?;
        if self.owner_of(slot) != owner_before {
            return Ok(Vec::new());
        }
        let mut table = self.table();
        let mut confirmed = Vec::new();
        for (channel, epoch) in channels.iter().zip(epochs) {
            if let Some(entry) = table.get_mut(channel)
                && Some(entry.epoch) == epoch
            {
                entry.subscribed_on = owner_before.clone();
                entry.confirmed = true;
                confirmed.push(channel.clone());
            }
        }
        Ok(confirmed)
    }

    fn emit(&self, event: SupervisorEvent) {
        match &event {
            SupervisorEvent::Resubscribed { reason, channels } => {
                metrics::counter!("rallypoint_pubsub_resubscribed_total")
                    .increment(channels.len() as u64);
                tracing::info!(%reason, channels = channels.len(), "sharded subscriptions restored");
            }
            SupervisorEvent::ShardPathDead { server, silent_for } => {
                metrics::counter!("rallypoint_pubsub_dead_paths_total").increment(1);
                tracing::warn!(%server, silent_ms = silent_for.as_millis() as u64, "shard pub/sub path went quiet; resubscribing");
            }
        }
        // Nobody listening is fine: the events are for tests and curious operators.
        let _no_listener_is_fine = self.events.send(event);
    }
}

impl Subscriptions {
    /// Starts the manager: a dedicated subscriber connection (a clone of `commands`'
    /// config), the dispatcher and the supervisor. `instance` names this process's canary
    /// channels; `publisher` sends the canaries.
    pub fn start(
        commands: &Client,
        publisher: Publisher,
        keys: core_keys::Keys,
        instance: &str,
        config: SubscriptionConfig,
        stop: CancellationToken,
    ) -> Self {
        let subscriber = commands.clone_new();
        let _connection_task = fred::prelude::ClientLike::connect(&subscriber);
        let (released_tx, released_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            subscriber,
            channels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            buffer: config.buffer,
            released: released_tx,
            events,
            canaries: canary::Canaries::new(keys, instance),
            stop,
        });
        supervisor::spawn(shared.clone(), publisher, config, released_rx);
        Self { shared }
    }

    /// Subscribes to a sharded channel. Returns once Redis confirmed the `SSUBSCRIBE`
    /// (or the channel was already subscribed), so a publish after this returns reaches
    /// the subscription.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription, SubscribeError> {
        let (tx, rx) = mpsc::channel(self.shared.buffer);
        let registration = self.register(channel, Receiver::Queue(tx)).await?;
        Ok(Subscription { rx, registration })
    }

    /// Subscribes to a sharded channel with a callback instead of a queue: for the many
    /// small subscriptions of a busy process (a gateway's player inboxes), where a queue
    /// and a reading task each would cost more than the messages. Returns once Redis
    /// confirmed the `SSUBSCRIBE`, as [`Subscriptions::subscribe`] does.
    pub async fn subscribe_with(
        &self,
        channel: &str,
        handler: impl Fn(Bytes) + Send + Sync + 'static,
    ) -> Result<HandlerSubscription, SubscribeError> {
        let registration = self
            .register(channel, Receiver::Handler(Arc::new(handler)))
            .await?;
        Ok(HandlerSubscription { registration })
    }

    async fn register(
        &self,
        channel: &str,
        receiver: Receiver,
    ) -> Result<Registration, SubscribeError> {
        if self.shared.stop.is_cancelled() {
            return Err(SubscribeError::Stopped);
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (channel, confirmed) = {
            let mut table = self.shared.table();
            // Checked again under the lock: the dispatcher clears the table when it stops.
            if self.shared.stop.is_cancelled() {
                return Err(SubscribeError::Stopped);
            }
            let key: Arc<str> = match table.get_key_value(channel) {
                Some((key, _)) => key.clone(),
                None => Arc::from(channel),
            };
            let entry = table
                .entry(key.clone())
                .or_insert_with(|| Channel::new(core_keys::slot_of(channel), false));
            entry.receivers.push((id, receiver));
            let confirmed = entry.confirmed;
            metrics::gauge!("rallypoint_pubsub_channels").set(table.len() as f64);
            (key, confirmed)
        };
        let registration = Registration {
            channel: channel.clone(),
            id,
            shared: self.shared.clone(),
        };
        if !confirmed {
            // Dropping `registration` on error releases the entry again.
            self.shared
                .ssubscribe(std::slice::from_ref(&channel))
                .await
                .map_err(|source| SubscribeError::Redis {
                    channel: channel.to_string(),
                    source,
                })?;
        }
        Ok(registration)
    }

    /// Number of channels currently tracked (canaries included).
    pub fn channel_count(&self) -> usize {
        self.shared.table().len()
    }

    /// What the supervisor does, as it does it.
    pub fn events(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.shared.events.subscribe()
    }

    /// For each master: its canary channel and how long ago the canary was last heard
    /// (`None`: not yet).
    pub fn shard_paths(&self) -> Vec<(String, Option<Duration>)> {
        self.shared.canaries.report()
    }
}
