//! The cache-warmer's config: `[database]` (where PostgreSQL is), `[warmer]` (how it warms
//! and commits), and from the shared `[matchmaking]` section the regions whose result
//! outboxes it drains and the rating a new player starts at.

use std::collections::BTreeSet;

use queues::MatchmakingConfig;
use serde::Deserialize;
use service_runtime::config::positive;
use service_runtime::secret::Secret;
use service_runtime::{ConfigError, LoadedConfig};

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `postgres://user:password@host:port/db`. Empty: the `DATABASE_URL` environment
    /// variable. Required one way or the other.
    pub url: Secret,
    /// Pool size.
    pub max_connections: u32,
    /// Connecting (and waiting for a pooled connection) gives up after this.
    pub connect_timeout_ms: u64,
    /// Run the migrations at start (off when operators run `rallypoint-cache-warmer
    /// migrate` as a deploy step and the service's database user may not change the schema).
    pub migrate_on_start: bool,
}

/// `[warmer]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmerSection {
    /// Elo's K factor: the most a rating moves in an even game is K/2.
    pub k_factor: f64,
    /// Leases (a region's outbox, the profile warming, a data kind): a dead instance's work
    /// is taken over within this.
    pub lease_ms: u64,
    /// How often a held outbox is looked at when it was empty.
    pub results_poll_ms: u64,
    /// Results committed per round.
    pub results_batch: usize,
    /// How often the profiles of players with a session or a ticket but no cached
    /// profile are looked for (a lost warm request is made good within this).
    pub reconcile_interval_ms: u64,
    /// How often game data versions in PostgreSQL are compared with Redis.
    pub data_refresh_interval_ms: u64,
    /// Warm requests are gathered for up to this long into one database query.
    pub warm_batch_window_ms: u64,
    /// Largest request body on the operator routes.
    pub max_body_bytes: usize,
}

/// Everything the cache-warmer reads.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseSection,
    pub warmer: WarmerSection,
    pub regions: BTreeSet<String>,
    pub default_rating: f64,
}

impl Config {
    pub fn load(config: &LoadedConfig) -> Result<Self, ConfigError> {
        Self::load_with_database_url(config, std::env::var("DATABASE_URL").ok())
    }

    /// As [`Config::load`], with `DATABASE_URL` given (tests).
    pub fn load_with_database_url(
        config: &LoadedConfig,
        database_url: Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut database: DatabaseSection = config.section("database")?;
        if database.url.is_empty() {
            database.url = Secret::new(database_url.unwrap_or_default());
        }
        if !(database.url.starts_with("postgres://") || database.url.starts_with("postgresql://")) {
            return Err(ConfigError::new(
                "database.url",
                "is required: set DATABASE_URL (or RALLYPOINT_DATABASE__URL) to postgres://user@host:port/db",
            ));
        }
        positive(
            "database.max_connections",
            u64::from(database.max_connections),
        )?;
        positive("database.connect_timeout_ms", database.connect_timeout_ms)?;
        let warmer: WarmerSection = config.section("warmer")?;
        if !(warmer.k_factor.is_finite() && warmer.k_factor > 0.0 && warmer.k_factor <= 400.0) {
            return Err(ConfigError::new(
                "warmer.k_factor",
                "must be a number above 0, at most 400",
            ));
        }
        positive("warmer.lease_ms", warmer.lease_ms)?;
        positive("warmer.results_poll_ms", warmer.results_poll_ms)?;
        positive("warmer.results_batch", warmer.results_batch as u64)?;
        positive("warmer.reconcile_interval_ms", warmer.reconcile_interval_ms)?;
        positive(
            "warmer.data_refresh_interval_ms",
            warmer.data_refresh_interval_ms,
        )?;
        positive("warmer.max_body_bytes", warmer.max_body_bytes as u64)?;
        let matchmaking = MatchmakingConfig::load(config)?;
        let regions = matchmaking.regions();
        Ok(Self {
            database,
            warmer,
            regions,
            default_rating: matchmaking.default_rating,
        })
    }
}
