//! What runs behind [`super::Subscriptions`]: the dispatcher, a hook in fred's reader
//! that hands each message to the subscriptions of its channel, and the supervisor, a
//! task that keeps every tracked `SSUBSCRIBE` in place while the cluster changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use fred::prelude::{ClientLike, ClusterInterface, EventInterface, PubsubInterface};
use futures::StreamExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::{Channel, Handler, Receiver, Shared, SubscriptionConfig, SupervisorEvent};
use crate::publish::Publisher;

/// At most this many `SSUBSCRIBE` calls in flight while restoring.
const RESUBSCRIBE_CONCURRENCY: usize = 64;
/// The longest the supervisor waits to re-read the slot map: fred's `sync_cluster` waits
/// for its reconnections, and the supervisor must keep checking canaries meanwhile.
const SYNC_CLUSTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Re-reads the slot map, bounded by [`SYNC_CLUSTER_TIMEOUT`].
async fn sync_cluster(shared: &Shared) {
    if shared.subscriber.cached_cluster_state().is_none() {
        return;
    }
    match tokio::time::timeout(SYNC_CLUSTER_TIMEOUT, shared.subscriber.sync_cluster()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::debug!(error = %err, "could not re-read the slot map"),
        Err(_) => tracing::debug!("re-reading the slot map took too long; checking again later"),
    }
}

pub(super) fn spawn(
    shared: Arc<Shared>,
    publisher: Publisher,
    config: SubscriptionConfig,
    released: mpsc::UnboundedReceiver<Arc<str>>,
) {
    dispatch(&shared);
    tokio::spawn(supervise(shared, publisher, config, released));
}

/// Hands every message of the subscriber connections on as fred's reader parses it (a
/// hook in the patched fred, vendor/README.md): no queue between the socket and the
/// subscriptions, so a burst larger than any buffer cannot be dropped on the way, and no
/// task to wake per message. Set before any subscription exists. Once the manager stops,
/// messages are ignored and every subscription's stream ends.
fn dispatch(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let hooked = shared.subscriber.set_message_hook(move |message| {
        // Weak: the client holding this hook is itself held by `shared`.
        if let Some(shared) = weak.upgrade()
            && !shared.stop.is_cancelled()
        {
            deliver(&shared, &message.channel, message.value.into_bytes());
        }
    });
    if !hooked {
        tracing::error!("the subscriber client already had a message hook; messages go to it");
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        shared.stop.cancelled().await;
        // Dropping every sender ends every subscription's stream.
        shared.table().clear();
    });
}

fn deliver(shared: &Shared, channel: &str, payload: Option<Bytes>) {
    if shared.canaries.heard(channel) {
        return;
    }
    let Some(payload) = payload else {
        metrics::counter!("rallypoint_pubsub_undecodable_total").increment(1);
        return;
    };
    // Handlers run after the table lock is released: one that drops a subscription (and
    // so takes the lock) must not deadlock the dispatcher. Most channels have one
    // receiver: it is kept without allocating.
    let mut first: Option<Handler> = None;
    let mut handlers: Vec<Handler> = Vec::new();
    {
        let mut table = shared.table();
        let Some(entry) = table.get_mut(channel) else {
            // A message that raced an unsubscribe.
            metrics::counter!("rallypoint_pubsub_unrouted_total").increment(1);
            return;
        };
        entry.receivers.retain(|(_, receiver)| match receiver {
            Receiver::Queue(tx) => match tx.try_send(payload.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("rallypoint_pubsub_dropped_total", "reason" => "consumer_full")
                        .increment(1);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
            Receiver::Handler(handler) => {
                if first.is_none() {
                    first = Some(handler.clone());
                } else {
                    handlers.push(handler.clone());
                }
                true
            }
        });
    }
    for handler in first.into_iter().chain(handlers) {
        handler(payload.clone());
    }
    metrics::counter!("rallypoint_pubsub_received_total").increment(1);
}

/// Keeps subscriptions in place: reacts to reconnects, slot-map changes and quiet
/// canaries, and unsubscribes released channels.
async fn supervise(
    shared: Arc<Shared>,
    publisher: Publisher,
    config: SubscriptionConfig,
    mut released: mpsc::UnboundedReceiver<Arc<str>>,
) {
    let mut reconnects = shared.subscriber.reconnect_rx();
    let mut topology_changes = shared.subscriber.cluster_change_rx();
    let mut topology_tick = tokio::time::interval(config.topology_check_interval);
    let mut canary_tick = tokio::time::interval(config.canary_interval);
    for tick in [&mut topology_tick, &mut canary_tick] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let canary_seq = Arc::new(AtomicU64::new(0));
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            server = reconnects.recv() => {
                let server = match server {
                    Ok(server) => Some(server.to_string()),
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => break,
                };
                invalidate(&shared, |entry, owner| {
                    server.is_none() || owner == server.as_deref() || subscribed_on(entry) == server
                });
                let reason = format!("reconnected to {}", server.as_deref().unwrap_or("redis"));
                refresh(&shared, &reason).await;
            }
            change = topology_changes.recv() => {
                if matches!(change, Err(RecvError::Closed)) { break; }
                refresh(&shared, "the slot map changed").await;
            }
            _ = topology_tick.tick() => {
                sync_cluster(&shared).await;
                refresh(&shared, "periodic check").await;
            }
            _ = canary_tick.tick() => {
                for silent in shared.canaries.take_silent(config.canary_timeout) {
                    shared.emit(SupervisorEvent::ShardPathDead { server: silent.server.clone(), silent_for: silent.silent_for });
                    sync_cluster(&shared).await;
                    let dead = silent.server;
                    invalidate(&shared, |entry, owner| {
                        owner.is_none() || owner == Some(dead.as_str()) || subscribed_on(entry).as_deref() == Some(dead.as_str())
                    });
                    refresh(&shared, &format!("canary of {dead} went quiet")).await;
                }
                publish_canaries(&shared, &publisher, &canary_seq);
            }
            Some(channel) = released.recv() => unsubscribe_if_unused(&shared, channel).await,
        }
    }
    let _closing_anyway = shared.subscriber.quit().await;
}

/// The master a channel was last subscribed on, as `host:port`.
fn subscribed_on(entry: &Channel) -> Option<String> {
    entry.subscribed_on.as_ref().map(ToString::to_string)
}

/// Marks the entries matching `filter(entry, current owner)` as needing `SSUBSCRIBE`.
fn invalidate(shared: &Shared, filter: impl Fn(&Channel, Option<&str>) -> bool) {
    // Read the slot map before taking the table lock: copying it is not free, and the
    // dispatcher waits on that lock.
    let routing = shared.subscriber.cached_cluster_state();
    let mut table = shared.table();
    for entry in table.values_mut() {
        let owner = routing
            .as_ref()
            .and_then(|r| r.get_server(entry.slot))
            .map(ToString::to_string);
        if filter(entry, owner.as_deref()) {
            entry.invalidate();
        }
    }
}

/// Aligns canaries with the masters, then subscribes every channel that is unconfirmed or
/// whose slot moved to another master since it was subscribed.
async fn refresh(shared: &Arc<Shared>, reason: &str) {
    let routing = shared.subscriber.cached_cluster_state();
    let (added, removed) = shared.canaries.plan(routing.as_ref());
    let pending: Vec<(u16, Arc<str>)> = {
        let mut table = shared.table();
        for channel in &removed {
            table.remove(channel);
        }
        for channel in added {
            table
                .entry(channel.clone())
                .or_insert_with(|| Channel::new(core_keys::slot_of(&channel), true));
        }
        table
            .iter_mut()
            .filter_map(|(name, entry)| {
                let owner = routing.as_ref().and_then(|r| r.get_server(entry.slot));
                let moved =
                    routing.is_some() && entry.confirmed && entry.subscribed_on.as_ref() != owner;
                if moved {
                    entry.invalidate();
                }
                (!entry.confirmed).then(|| (entry.slot, name.clone()))
            })
            .collect()
    };
    // No SUNSUBSCRIBE on the old master of a moved channel: Redis drops sharded
    // subscriptions of a slot when the slot leaves a node, and fred closes connections
    // to nodes that stopped being masters (a command to a node fred has no connection
    // to would make it reconnect everything).
    for channel in removed {
        let _gone_already = shared.subscriber.sunsubscribe(channel.as_ref()).await;
    }
    if pending.is_empty() {
        return;
    }
    // One SSUBSCRIBE per slot (a multi-channel SSUBSCRIBE is routed by its first channel).
    let mut by_slot: BTreeMap<u16, Vec<Arc<str>>> = BTreeMap::new();
    for (slot, channel) in pending {
        by_slot.entry(slot).or_default().push(channel);
    }
    let restored = futures::stream::iter(by_slot.into_values())
        .map(|channels| {
            let shared = shared.clone();
            async move {
                match shared.ssubscribe(&channels).await {
                    Ok(confirmed) => confirmed,
                    Err(err) => {
                        tracing::debug!(error = %err, "SSUBSCRIBE failed; retrying on the next check");
                        Vec::new()
                    }
                }
            }
        })
        .buffer_unordered(RESUBSCRIBE_CONCURRENCY)
        .fold(Vec::new(), |mut all, confirmed| async move {
            all.extend(confirmed);
            all
        })
        .await;
    if !restored.is_empty() {
        shared.emit(SupervisorEvent::Resubscribed {
            reason: reason.to_owned(),
            channels: restored.into(),
        });
    }
}

/// `SUNSUBSCRIBE` a channel whose last subscription went away (unless one came back).
async fn unsubscribe_if_unused(shared: &Shared, channel: Arc<str>) {
    let unused = {
        let mut table = shared.table();
        match table.get(&channel) {
            Some(entry) if entry.receivers.is_empty() && !entry.canary => {
                table.remove(&channel);
                metrics::gauge!("rallypoint_pubsub_channels").set(table.len() as f64);
                true
            }
            _ => false,
        }
    };
    if !unused {
        return;
    }
    if let Err(err) = shared.subscriber.sunsubscribe(channel.as_ref()).await {
        tracing::debug!(channel = %channel, error = %err, "SUNSUBSCRIBE failed; the connection will drop it");
    }
    // A new subscriber may have arrived while the SUNSUBSCRIBE was in flight, and its
    // SSUBSCRIBE may have reached Redis first: subscribe again so it is not left deaf.
    let resubscribe = {
        let mut table = shared.table();
        match table.get_mut(&channel) {
            Some(entry) => {
                entry.invalidate();
                true
            }
            None => false,
        }
    };
    if resubscribe && let Err(err) = shared.ssubscribe(std::slice::from_ref(&channel)).await {
        tracing::debug!(channel = %channel, error = %err, "SSUBSCRIBE failed; retrying on the next check");
    }
}

/// Publishes the next sequence number to every canary, without waiting for the answers.
fn publish_canaries(shared: &Shared, publisher: &Publisher, seq: &Arc<AtomicU64>) {
    let n = seq.fetch_add(1, Ordering::Relaxed);
    for channel in shared.canaries.channels() {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            if let Err(err) = publisher
                .publish(&channel, Bytes::from(n.to_string()))
                .await
            {
                tracing::debug!(%channel, error = %err, "canary publish failed");
            }
        });
    }
}
