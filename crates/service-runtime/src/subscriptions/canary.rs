//! Canary channels: one per master, to prove each shard's pub/sub path delivers.
//!
//! The supervisor publishes to every canary each interval and the dispatcher marks it
//! heard. A canary that stays quiet longer than the timeout means the subscriptions on
//! that shard are gone (a failover, a migration, a half-dead connection), whatever fred
//! did or did not notice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fred::types::cluster::ClusterRouting;

/// The key for "the one node" when Redis is not a cluster.
const SINGLE_NODE: &str = "single-node";

/// How far to search for a channel name that hashes onto a given master.
const SEARCH_LIMIT: u32 = 200_000;

#[derive(Debug)]
struct Canary {
    channel: Arc<str>,
    /// When the canary was last heard, or (if never) when it started being watched.
    since: Instant,
    heard: bool,
}

/// The canaries of this process, keyed by master (`host:port`).
#[derive(Debug)]
pub(super) struct Canaries {
    keys: core_keys::Keys,
    instance: String,
    /// What every canary channel of this process starts with: lets the dispatcher skip
    /// the lock for ordinary messages.
    prefix: String,
    by_server: Mutex<HashMap<String, Canary>>,
}

/// A canary that went quiet.
#[derive(Debug)]
pub(super) struct Silent {
    pub server: String,
    pub silent_for: Duration,
}

impl Canaries {
    pub(super) fn new(keys: core_keys::Keys, instance: &str) -> Self {
        // `<ns>:{canary:<instance>:0}` without its `0}`.
        let first = keys.canary_channel(instance, 0);
        let prefix = first.strip_suffix("0}").unwrap_or(&first).to_owned();
        Self {
            keys,
            instance: instance.to_owned(),
            prefix,
            by_server: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Canary>> {
        self.by_server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Brings the set of canaries in line with the current masters. Returns the channels
    /// to subscribe and the ones to drop.
    pub(super) fn plan(&self, routing: Option<&ClusterRouting>) -> (Vec<Arc<str>>, Vec<Arc<str>>) {
        let wanted: HashMap<String, Arc<str>> = match routing {
            None => HashMap::from([(
                SINGLE_NODE.to_owned(),
                Arc::from(self.keys.canary_channel(&self.instance, 0)),
            )]),
            Some(routing) => routing
                .unique_primary_nodes()
                .into_iter()
                .filter_map(|server| {
                    let channel = (0..SEARCH_LIMIT)
                        .map(|n| self.keys.canary_channel(&self.instance, n))
                        .find(|c| routing.get_server(core_keys::slot_of(c)) == Some(&server))?;
                    Some((server.to_string(), Arc::from(channel)))
                })
                .collect(),
        };
        let mut current = self.lock();
        let mut removed = Vec::new();
        current.retain(|server, canary| {
            let keep = wanted.get(server) == Some(&canary.channel);
            if !keep {
                removed.push(canary.channel.clone());
            }
            keep
        });
        let mut added = Vec::new();
        for (server, channel) in wanted {
            current.entry(server).or_insert_with(|| {
                added.push(channel.clone());
                Canary {
                    channel,
                    since: Instant::now(),
                    heard: false,
                }
            });
        }
        (added, removed)
    }

    /// Marks `channel` heard if it is a canary; false for any other channel.
    pub(super) fn heard(&self, channel: &str) -> bool {
        if !channel.starts_with(&self.prefix) {
            return false;
        }
        let mut current = self.lock();
        match current.values_mut().find(|c| &*c.channel == channel) {
            Some(canary) => {
                canary.since = Instant::now();
                canary.heard = true;
                true
            }
            None => false,
        }
    }

    /// The canary channels to publish to now.
    pub(super) fn channels(&self) -> Vec<Arc<str>> {
        self.lock().values().map(|c| c.channel.clone()).collect()
    }

    /// Canaries silent for longer than `timeout`; their clocks restart, so a path that
    /// stays dead is reported again one timeout later, not every tick.
    pub(super) fn take_silent(&self, timeout: Duration) -> Vec<Silent> {
        let now = Instant::now();
        let mut out = Vec::new();
        for (server, canary) in self.lock().iter_mut() {
            let silent_for = now.duration_since(canary.since);
            if silent_for > timeout {
                out.push(Silent {
                    server: server.clone(),
                    silent_for,
                });
                canary.since = now;
            }
        }
        out
    }

    /// For each master, its canary channel and how long since it was heard.
    pub(super) fn report(&self) -> Vec<(String, Option<Duration>)> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(server, c)| {
                (
                    format!("{server} ({})", c.channel),
                    c.heard.then(|| now.duration_since(c.since)),
                )
            })
            .collect()
    }
}
