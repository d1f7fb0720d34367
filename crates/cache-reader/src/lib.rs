//! The read path of cached data: player profiles and static game data, as every service
//! other than the cache-warmer reads them.
//!
//! Three layers, each asked only when the one before missed:
//! 1. an in-process cache ([moka]), bounded in size, whose entries live at most `ttl`, and
//!    which drops entries as soon as the cache-warmer announces a change on
//!    `{cache}:invalidate` (so a lost announcement costs at most `ttl` of staleness);
//! 2. Redis, where the cache-warmer keeps what is hot (`{p:<id>}:profile`,
//!    `{data:<kind>}:docs`);
//! 3. PostgreSQL, never read here: on a Redis miss the reader asks the cache-warmer to warm
//!    the entry (`{warm}:requests`) and waits for it a bounded time, then gives up with
//!    [`ReadError::Unavailable`]: a caller is never left hanging on the database.
//!
//! Lookups are counted per layer and outcome (`rallypoint_cache_lookups_total`) and, every
//! few seconds, added to the cluster-wide `{cache}:stats` hash that the cache-warmer's
//! `/v1/stats` turns into a hit rate.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use core_keys::Keys;
use fred::prelude::{Client, HashesInterface, KeysInterface, SetsInterface};
use moka::future::Cache;
use service_runtime::publish::Publisher;
use service_runtime::subscriptions::{HandlerSubscription, SubscribeError, Subscriptions};

/// A player's profile as cached.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub player: String,
    pub display_name: String,
    pub rating: f64,
    pub games_played: u64,
    /// Grows with every change in PostgreSQL.
    pub version: u64,
}

/// One game data document as cached.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: String,
    pub id: String,
    /// The kind's version the document was read at.
    pub version: u64,
    /// The JSON document, as stored.
    pub json: String,
}

/// Why a read gave no value.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The entry is not in Redis and was not warmed in time (the cache-warmer or
    /// PostgreSQL is down or slow): retry later.
    #[error("{0} is not available right now")]
    Unavailable(String),
    #[error("redis: {0}")]
    Redis(fred::error::Error),
}

service_runtime::redis_error_from!(ReadError::Redis);

/// How the reader behaves.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// The longest an entry is served from process memory.
    pub ttl: Duration,
    /// Entries kept in process memory, per data set.
    pub capacity: u64,
    /// How long a Redis miss waits for the cache-warmer.
    pub warm_wait: Duration,
    /// How often lookup counts are added to the cluster-wide stats.
    pub stats_flush: Duration,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            capacity: 100_000,
            warm_wait: Duration::from_millis(1500),
            stats_flush: Duration::from_secs(5),
        }
    }
}

/// What a lookup found, in which layer. The discriminant indexes the counters; the name
/// is the field in `{cache}:stats`.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    LocalHit = 0,
    RedisHit = 1,
    RedisMiss = 2,
}

impl Lookup {
    const ALL: [Lookup; 3] = [Lookup::LocalHit, Lookup::RedisHit, Lookup::RedisMiss];

    fn field(self) -> &'static str {
        match self {
            Lookup::LocalHit => "local_hit",
            Lookup::RedisHit => "redis_hit",
            Lookup::RedisMiss => "redis_miss",
        }
    }

    /// (layer, result) labels of `rallypoint_cache_lookups_total`.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Lookup::LocalHit => ("local", "hit"),
            Lookup::RedisHit => ("redis", "hit"),
            Lookup::RedisMiss => ("redis", "miss"),
        }
    }
}

struct Inner {
    keys: Keys,
    redis: Client,
    publisher: Publisher,
    config: ReaderConfig,
    profiles: Cache<String, Arc<Profile>>,
    documents: Cache<(String, String), Arc<Document>>,
    /// Lookups since the process started, by [`Lookup`].
    totals: [AtomicU64; 3],
    /// The part of `totals` already added to the cluster-wide stats.
    flushed: [AtomicU64; 3],
    invalidations: AtomicU64,
}

/// Reads profiles and game data through the local cache. Cheap to clone.
#[derive(Clone)]
pub struct CacheReader {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CacheReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheReader")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Lookup totals of this process since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupTotals {
    pub local_hits: u64,
    pub redis_hits: u64,
    pub redis_misses: u64,
}

/// How often a read waiting for a warm-up looks again, and asks again.
const WAIT_POLL: Duration = Duration::from_millis(20);
const ASK_AGAIN: Duration = Duration::from_millis(250);

impl CacheReader {
    /// A reader on `redis` for namespace `keys`. Call [`CacheReader::follow_invalidations`]
    /// to have announced changes evict local copies, and [`CacheReader::spawn_stats_flush`]
    /// to feed the cluster-wide hit rate.
    pub fn new(keys: Keys, redis: Client, config: ReaderConfig) -> Self {
        let profiles = Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.ttl)
            .support_invalidation_closures()
            .build();
        let documents = Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.ttl)
            .support_invalidation_closures()
            .build();
        Self {
            inner: Arc::new(Inner {
                publisher: Publisher::new(redis.clone()),
                keys,
                redis,
                config,
                profiles,
                documents,
                totals: Default::default(),
                flushed: Default::default(),
                invalidations: AtomicU64::new(0),
            }),
        }
    }

    fn count(&self, dataset: &'static str, lookup: Lookup) {
        self.inner.totals[lookup as usize].fetch_add(1, Ordering::Relaxed);
        let (layer, result) = lookup.labels();
        metrics::counter!("rallypoint_cache_lookups_total", "dataset" => dataset, "layer" => layer, "result" => result)
            .increment(1);
    }

    /// Lookups of this process so far.
    pub fn totals(&self) -> LookupTotals {
        LookupTotals {
            local_hits: self.inner.totals[0].load(Ordering::Relaxed),
            redis_hits: self.inner.totals[1].load(Ordering::Relaxed),
            redis_misses: self.inner.totals[2].load(Ordering::Relaxed),
        }
    }

    /// How many change announcements this reader has applied.
    pub fn invalidations_seen(&self) -> u64 {
        self.inner.invalidations.load(Ordering::SeqCst)
    }

    /// `player`'s profile: local cache, else Redis, else a warm-up request and a bounded
    /// wait.
    pub async fn profile(&self, player: &str) -> Result<Arc<Profile>, ReadError> {
        if let Some(found) = self.inner.profiles.get(player).await {
            self.count("profiles", Lookup::LocalHit);
            return Ok(found);
        }
        if let Some(found) = self.read_profile(player).await? {
            self.count("profiles", Lookup::RedisHit);
            return Ok(self.keep_profile(found).await);
        }
        self.count("profiles", Lookup::RedisMiss);
        let deadline = tokio::time::Instant::now() + self.inner.config.warm_wait;
        let mut asked: Option<tokio::time::Instant> = None;
        loop {
            if asked.is_none_or(|at| at.elapsed() >= ASK_AGAIN) {
                if let Ok(id) = proto::Id::parse(player) {
                    self.ask(proto::Event::WarmProfiles { players: vec![id] })
                        .await;
                }
                asked = Some(tokio::time::Instant::now());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ReadError::Unavailable(format!("the profile of {player}")));
            }
            tokio::time::sleep(WAIT_POLL).await;
            if let Some(found) = self.read_profile(player).await? {
                return Ok(self.keep_profile(found).await);
            }
        }
    }

    async fn keep_profile(&self, profile: Profile) -> Arc<Profile> {
        let profile = Arc::new(profile);
        self.inner
            .profiles
            .insert(profile.player.clone(), profile.clone())
            .await;
        profile
    }

    async fn read_profile(&self, player: &str) -> Result<Option<Profile>, ReadError> {
        let fields: HashMap<String, String> = self
            .inner
            .redis
            .hgetall(self.inner.keys.player(player).profile())
            .await?;
        let number = |f: &str| fields.get(f).and_then(|v| v.parse::<f64>().ok());
        let (Some(rating), Some(version)) = (number("rating"), number("version")) else {
            return Ok(None);
        };
        Ok(Some(Profile {
            player: player.to_owned(),
            display_name: fields
                .get("name")
                .cloned()
                .unwrap_or_else(|| player.to_owned()),
            rating,
            games_played: number("games").unwrap_or(0.0) as u64,
            version: version as u64,
        }))
    }

    /// Document `id` of game data `kind`: `Ok(None)` when the kind is warmed and has no
    /// such document. A kind not warmed at all is asked for and waited for (bounded).
    pub async fn document(&self, kind: &str, id: &str) -> Result<Option<Arc<Document>>, ReadError> {
        let key = (kind.to_owned(), id.to_owned());
        if let Some(found) = self.inner.documents.get(&key).await {
            self.count("game_data", Lookup::LocalHit);
            return Ok(Some(found));
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.warm_wait;
        let mut asked: Option<tokio::time::Instant> = None;
        let mut first = true;
        loop {
            let data = self.inner.keys.data(kind);
            let version: Option<u64> = self.inner.redis.get(data.version()).await?;
            if let Some(version) = version {
                if first {
                    self.count("game_data", Lookup::RedisHit);
                }
                let json: Option<String> = self.inner.redis.hget(data.documents(), id).await?;
                let Some(json) = json else {
                    return Ok(None);
                };
                let document = Arc::new(Document {
                    kind: kind.to_owned(),
                    id: id.to_owned(),
                    version,
                    json,
                });
                self.inner.documents.insert(key, document.clone()).await;
                return Ok(Some(document));
            }
            if first {
                self.count("game_data", Lookup::RedisMiss);
                first = false;
                // A kind PostgreSQL does not hold has no documents: no warm-up to wait for.
                let kinds = self.inner.keys.data_kinds();
                let (known, listed): (bool, bool) = (
                    self.inner.redis.sismember(&kinds, kind).await?,
                    self.inner.redis.exists::<u32, _>(&kinds).await? == 1,
                );
                if listed && !known {
                    return Ok(None);
                }
            }
            if asked.is_none_or(|at| at.elapsed() >= ASK_AGAIN) {
                self.ask(proto::Event::CacheInvalidate {
                    dataset: Some(kind.to_owned()),
                    players: Vec::new(),
                })
                .await;
                asked = Some(tokio::time::Instant::now());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ReadError::Unavailable(format!("game data {kind}")));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// The version of `kind` in Redis (0 when it was never warmed).
    pub async fn version_of(&self, kind: &str) -> Result<u64, ReadError> {
        let version: Option<u64> = self
            .inner
            .redis
            .get(self.inner.keys.data(kind).version())
            .await?;
        Ok(version.unwrap_or(0))
    }

    /// Asks the cache-warmer for something (a hint: a lost one is asked again).
    async fn ask(&self, event: proto::Event) {
        self.inner
            .publisher
            .publish_event(&self.inner.keys.warm_requests_channel(), event)
            .await;
    }

    /// Drops local copies whenever the cache-warmer announces a change. Keep the returned
    /// subscription alive for as long as the reader is used.
    pub async fn follow_invalidations(
        &self,
        subscriptions: &Subscriptions,
    ) -> Result<HandlerSubscription, SubscribeError> {
        let reader = self.clone();
        subscriptions
            .subscribe_with(
                &self.inner.keys.cache_invalidate_channel(),
                move |payload: Bytes| {
                    reader.apply_invalidation(&payload);
                },
            )
            .await
    }

    fn apply_invalidation(&self, payload: &[u8]) {
        let event = match proto::decode_event(payload, proto::MAX_EVENT_BYTES) {
            Ok(envelope) => envelope.event,
            Err(err) => {
                tracing::debug!(error = %err, "undecodable cache invalidation");
                return;
            }
        };
        let proto::Event::CacheInvalidate { dataset, players } = event else {
            return;
        };
        let players: Vec<String> = players.iter().map(ToString::to_string).collect();
        let result = match (&dataset, players.is_empty()) {
            (None, true) => {
                self.inner.profiles.invalidate_all();
                self.inner.documents.invalidate_all();
                Ok(())
            }
            // A data kind changed (rare): one predicate over the documents.
            (Some(kind), _) => {
                let kind = kind.clone();
                let documents = self
                    .inner
                    .documents
                    .invalidate_entries_if(move |(k, _), _| *k == kind)
                    .map(|_| ());
                let profiles = if players.is_empty() {
                    Ok(())
                } else {
                    self.inner
                        .profiles
                        .invalidate_entries_if(move |p, _| players.contains(p))
                        .map(|_| ())
                };
                documents.and(profiles)
            }
            (None, false) => {
                // The common case (after every stored result): evict by key, no scan.
                let reader = self.clone();
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                runtime.spawn(async move {
                    for player in &players {
                        reader.inner.profiles.invalidate(player).await;
                    }
                    reader.inner.invalidations.fetch_add(1, Ordering::SeqCst);
                });
                return;
            }
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot apply a cache invalidation; dropping every local entry");
            self.inner.profiles.invalidate_all();
            self.inner.documents.invalidate_all();
        }
        self.inner.invalidations.fetch_add(1, Ordering::SeqCst);
    }

    /// Adds this process's lookup counts to the cluster-wide `{cache}:stats` every
    /// `stats_flush`, until `stop`.
    pub fn spawn_stats_flush(&self, stop: tokio_util::sync::CancellationToken) {
        let reader = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(reader.inner.config.stats_flush);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => reader.flush_counts().await,
                }
            }
            reader.flush_counts().await;
        });
    }

    async fn flush_counts(&self) {
        let key = self.inner.keys.cache_stats();
        for lookup in Lookup::ALL {
            let i = lookup as usize;
            let total = self.inner.totals[i].load(Ordering::Relaxed);
            let delta = total.saturating_sub(self.inner.flushed[i].load(Ordering::Relaxed));
            if delta == 0 {
                continue;
            }
            let added: Result<i64, _> = self
                .inner
                .redis
                .hincrby(&key, lookup.field(), delta as i64)
                .await;
            match added {
                Ok(_) => self.inner.flushed[i].store(total, Ordering::Relaxed),
                Err(err) => {
                    tracing::debug!(error = %err, "cannot flush cache lookup counts; next round adds them")
                }
            }
        }
    }
}
