//! The instance registry: which service instances are alive right now.
//!
//! Each instance announces itself (service, id, version, address, start time) with a TTL
//! it renews on a timer, together with a snapshot of its own figures (the service's
//! [`StatsSource`]). The operator dashboard reads the cluster from here, and cleanup work
//! tells a dead instance's leftovers (sessions, room memberships) from a live one's by
//! asking [`Registry::is_live`]. Announcing is one script on the registry's slot.

use std::collections::HashMap;
use std::time::Duration;

use crate::clock::now_ms;
use crate::script::LuaScript;

use fred::prelude::{Client, HashesInterface, KeysInterface, SortedSetsInterface};
use tokio_util::sync::CancellationToken;

static ANNOUNCE: LuaScript<u64> = LuaScript::new(include_str!("instances/instance_announce.lua"));

/// What an instance says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    pub service: String,
    pub id: String,
    pub version: String,
    /// Where it can be reached (its ops address, or the advertised one).
    pub address: String,
    /// Start time, ms since the Unix epoch.
    pub started_ms: u64,
}

/// A live instance as the registry lists it: who it is, when it last announced itself,
/// and the figures it announced with (`None` when it has none or they did not parse).
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    pub info: InstanceInfo,
    /// When it last announced itself, ms since the Unix epoch.
    pub announced_ms: u64,
    pub stats: Option<serde_json::Value>,
}

/// Produces an instance's figures for its announcement (see [`Registry::spawn_announcer`]);
/// `None` when it cannot tell right now (Redis did not answer).
pub type StatsSource = std::sync::Arc<
    dyn Fn() -> futures::future::BoxFuture<'static, Option<serde_json::Value>> + Send + Sync,
>;

/// A [`StatsSource`] that calls `figures` with a clone of `state` each time.
pub fn stats_source<S, F, Fut>(state: S, figures: F) -> StatsSource
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<serde_json::Value>> + Send + 'static,
{
    std::sync::Arc::new(move || Box::pin(figures(state.clone())))
}

/// Reads and writes the registry of one namespace.
#[derive(Debug, Clone)]
pub struct Registry {
    keys: core_keys::Keys,
}

impl Registry {
    pub fn new(keys: core_keys::Keys) -> Self {
        Self { keys }
    }

    /// Announces (or renews) `info` for `ttl`, with the instance's current figures when
    /// it has some. Returns how many instances are live.
    pub async fn announce(
        &self,
        redis: &Client,
        info: &InstanceInfo,
        stats: Option<&serde_json::Value>,
        ttl: Duration,
    ) -> Result<u64, fred::error::Error> {
        let member = format!("{}/{}", info.service, info.id);
        let keys = core_keys::scripts::instance_announce(&self.keys, &info.service, &info.id);
        let now = now_ms();
        let mut args = vec![
            member,
            now.to_string(),
            ttl.as_millis().to_string(),
            "service".into(),
            info.service.clone(),
            "id".into(),
            info.id.clone(),
            "version".into(),
            info.version.clone(),
            "address".into(),
            info.address.clone(),
            "started_ms".into(),
            info.started_ms.to_string(),
            "announced_ms".into(),
            now.to_string(),
        ];
        if let Some(stats) = stats {
            args.push("stats".into());
            args.push(stats.to_string());
        }
        ANNOUNCE.run(redis, keys, args).await
    }

    /// Removes the instance at once (on a clean shutdown), so nobody waits for its TTL.
    pub async fn withdraw(
        &self,
        redis: &Client,
        service: &str,
        id: &str,
    ) -> Result<(), fred::error::Error> {
        let registry = self.keys.instances();
        let pipeline = redis.pipeline();
        let _: () = pipeline
            .zrem(registry.all(), format!("{service}/{id}"))
            .await?;
        let _: () = pipeline.del(registry.info(service, id)).await?;
        pipeline.all::<()>().await
    }

    /// Whether `service/id` has a live announcement.
    pub async fn is_live(
        &self,
        redis: &Client,
        service: &str,
        id: &str,
    ) -> Result<bool, fred::error::Error> {
        let lapses: Option<f64> = redis
            .zscore(self.keys.instances().all(), format!("{service}/{id}"))
            .await?;
        Ok(lapses.is_some_and(|at| at > now_ms() as f64))
    }

    /// How many instances of `service` announced themselves within `within` (entries are
    /// announced for `ttl`). Shorter than the entry's life: a killed instance stops
    /// counting well before its entry lapses.
    pub async fn count_live(
        &self,
        redis: &Client,
        service: &str,
        within: Duration,
        ttl: Duration,
    ) -> Result<usize, fred::error::Error> {
        // An entry announced at `t` lapses at `t + ttl`: announced since `now - within`
        // means lapsing after `now + ttl - within`.
        let since = (now_ms() + ttl.as_millis() as u64).saturating_sub(within.as_millis() as u64);
        let members: Vec<String> = redis
            .zrangebyscore(
                self.keys.instances().all(),
                since as f64,
                "+inf",
                false,
                None,
            )
            .await?;
        Ok(members
            .iter()
            .filter(|m| m.split_once('/').is_some_and(|(s, _)| s == service))
            .count())
    }

    /// Every live instance, optionally of one service.
    pub async fn live(
        &self,
        redis: &Client,
        service: Option<&str>,
    ) -> Result<Vec<Announced>, fred::error::Error> {
        let registry = self.keys.instances();
        let members: Vec<String> = redis
            .zrangebyscore(registry.all(), now_ms() as f64, "+inf", false, None)
            .await?;
        let wanted: Vec<(String, String)> = members
            .iter()
            .filter_map(|m| m.split_once('/'))
            .filter(|(s, _)| service.is_none_or(|want| want == *s))
            .map(|(s, i)| (s.to_owned(), i.to_owned()))
            .collect();
        let pipeline = redis.pipeline();
        for (s, i) in &wanted {
            let _: () = pipeline.hgetall(registry.info(s, i)).await?;
        }
        let hashes: Vec<HashMap<String, String>> = if wanted.is_empty() {
            Vec::new()
        } else {
            pipeline.all().await?
        };
        Ok(hashes
            .into_iter()
            .filter(|h| !h.is_empty())
            .map(|mut h| {
                let number = |h: &HashMap<String, String>, field: &str| {
                    h.get(field).and_then(|v| v.parse().ok()).unwrap_or(0)
                };
                Announced {
                    announced_ms: number(&h, "announced_ms"),
                    stats: h
                        .get("stats")
                        .and_then(|json| serde_json::from_str(json).ok()),
                    info: InstanceInfo {
                        started_ms: number(&h, "started_ms"),
                        service: h.remove("service").unwrap_or_default(),
                        id: h.remove("id").unwrap_or_default(),
                        version: h.remove("version").unwrap_or_default(),
                        address: h.remove("address").unwrap_or_default(),
                    },
                }
            })
            .collect())
    }

    /// Keeps `info` announced every `interval` until `stop`, then withdraws it. Each
    /// announcement carries what `stats` says at the time (given half an interval to
    /// answer; without an answer the instance is announced without figures).
    pub fn spawn_announcer(
        &self,
        redis: Client,
        info: InstanceInfo,
        stats: Option<StatsSource>,
        interval: Duration,
        ttl: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticker.tick() => {
                        // A source that did not answer replaces old figures with null:
                        // stale numbers would look live on the dashboard.
                        let figures = match &stats {
                            Some(source) => Some(tokio::time::timeout(interval / 2, source()).await.ok().flatten().unwrap_or(serde_json::Value::Null)),
                            None => None,
                        };
                        match registry.announce(&redis, &info, figures.as_ref(), ttl).await {
                            Ok(live) => metrics::gauge!("rallypoint_instances_live").set(live as f64),
                            Err(err) => tracing::debug!(error = %err, "could not announce this instance; retrying"),
                        }
                    }
                }
            }
            if let Err(err) = registry.withdraw(&redis, &info.service, &info.id).await {
                tracing::warn!(error = %err, "could not withdraw this instance; its entry lapses by itself");
            }
        })
    }
}
