//! The Redis connection: config, building fred clients for a cluster or a single node,
//! the health state that readiness reports, writes confirmed by replicas
//! ([`Replicated`]), and the start-up check that Redis will not evict ([`eviction`]).
//!
//! fred's defaults are changed where they hurt a service (docs/STACK.md): an
//! exponential reconnect policy that never gives up, a command timeout, an unresponsive
//! connection timeout, reconnect on auth errors (ElastiCache token rotation), and a
//! larger pub/sub broadcast buffer.

pub mod eviction;
mod health;
mod replicated;
mod url;

pub use replicated::{NotReplicated, Replicated};

use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike, Config, ReconnectPolicy, ServerConfig};
use fred::types::config::{ClusterDiscoveryPolicy, UnresponsiveConfig};
use serde::Deserialize;

pub use health::{Availability, RedisHealth, count_error};

/// `impl From<fred::error::Error> for $error` into the variant `$error::$variant`,
/// counting the failure ([`count_error`]): what `#[from]` would do, plus the metric.
#[macro_export]
macro_rules! redis_error_from {
    ($error:ident :: $variant:ident) => {
        impl From<fred::error::Error> for $error {
            fn from(err: fred::error::Error) -> Self {
                $crate::redis::count_error(&err);
                $error::$variant(err)
            }
        }
    };
}
pub use url::RedisUrl;

use crate::check::{ConfigError, positive};

/// `[redis]`: where Redis is and how to talk to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Seed nodes: `redis://host:port` (or `rediss://` for TLS). A list, or one string
    /// with commas (`RALLYPOINT_REDIS__URLS=redis://a:7000,redis://b:7001`).
    #[serde(deserialize_with = "crate::check::string_or_list")]
    pub urls: Vec<String>,
    /// `cluster` (Redis Cluster, ElastiCache cluster mode) or `single` (one node).
    pub mode: String,
    /// Prefix of every key and channel; several deployments can share one cluster.
    pub namespace: String,
    /// ACL user name; empty for none.
    pub username: String,
    /// Password or AUTH token; empty for none.
    pub password: crate::secret::Secret,
    /// Use TLS (rustls) even for `redis://` URLs.
    pub tls: bool,
    pub connect_timeout_ms: u64,
    /// How long one command may take before it fails with a timeout.
    pub command_timeout_ms: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// How often the health probe pings every master.
    pub health_interval_ms: u64,
    /// How often the subscription supervisor re-reads the cluster's slot map.
    pub topology_check_interval_ms: u64,
    /// How often the supervisor publishes to each shard's canary channel.
    pub canary_interval_ms: u64,
    /// A shard whose canary was not heard for this long has its subscriptions restored.
    pub canary_timeout_ms: u64,
    /// Messages buffered per subscription before new ones are dropped (and counted).
    pub subscription_buffer: usize,
}

impl RedisConfig {
    /// Checks what serde cannot: URLs, mode, namespace, timeouts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.urls.is_empty() {
            return Err(ConfigError::new(
                "redis.urls",
                "at least one redis://host:port is needed",
            ));
        }
        for url in &self.urls {
            RedisUrl::parse(url).map_err(|e| ConfigError::new("redis.urls", e))?;
        }
        if !matches!(self.mode.as_str(), "cluster" | "single") {
            return Err(ConfigError::new(
                "redis.mode",
                format!("{:?} is not one of cluster, single", self.mode),
            ));
        }
        if self.mode == "single" && self.urls.len() != 1 {
            return Err(ConfigError::new(
                "redis.urls",
                "mode single takes exactly one URL",
            ));
        }
        core_keys::Keys::new(&self.namespace)
            .map_err(|e| ConfigError::new("redis.namespace", e.to_string()))?;
        for (key, value) in [
            ("redis.connect_timeout_ms", self.connect_timeout_ms),
            ("redis.command_timeout_ms", self.command_timeout_ms),
            ("redis.reconnect_min_ms", self.reconnect_min_ms),
            ("redis.reconnect_max_ms", self.reconnect_max_ms),
            ("redis.health_interval_ms", self.health_interval_ms),
            (
                "redis.topology_check_interval_ms",
                self.topology_check_interval_ms,
            ),
            ("redis.canary_interval_ms", self.canary_interval_ms),
            ("redis.canary_timeout_ms", self.canary_timeout_ms),
        ] {
            positive(key, value)?;
        }
        if self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(ConfigError::new(
                "redis.reconnect_max_ms",
                "must be at least redis.reconnect_min_ms",
            ));
        }
        if self.canary_timeout_ms <= self.canary_interval_ms {
            return Err(ConfigError::new(
                "redis.canary_timeout_ms",
                "must be longer than redis.canary_interval_ms",
            ));
        }
        positive("redis.subscription_buffer", self.subscription_buffer as u64)?;
        Ok(())
    }

    /// Whether this is a cluster (as opposed to a single node).
    pub fn is_cluster(&self) -> bool {
        self.mode == "cluster"
    }

    /// The key builder for this deployment's namespace.
    pub fn keys(&self) -> Result<core_keys::Keys, ConfigError> {
        core_keys::Keys::new(&self.namespace)
            .map_err(|e| ConfigError::new("redis.namespace", e.to_string()))
    }

    /// A fred builder with Rallypoint's connection policy. Call [`build_client`] rather
    /// than this unless you need to change something.
    pub fn builder(&self) -> Result<Builder, fred::error::Error> {
        let urls: Vec<RedisUrl> = self
            .urls
            .iter()
            .map(|u| RedisUrl::parse(u))
            .collect::<Result<_, _>>()
            .map_err(|e| fred::error::Error::new(fred::error::ErrorKind::Config, e))?;
        let server = if self.is_cluster() {
            ServerConfig::Clustered {
                hosts: urls.iter().map(RedisUrl::server).collect(),
                policy: ClusterDiscoveryPolicy::default(),
            }
        } else {
            ServerConfig::Centralized {
                server: urls[0].server(),
            }
        };
        let mut config = Config {
            server,
            // Retry the first connection too: a service starts (unready) while Redis is down.
            fail_fast: false,
            username: non_empty(&self.username),
            password: non_empty(&self.password),
            ..Config::default()
        };
        if self.tls || urls.iter().any(|u| u.tls) {
            let connector = fred::types::config::TlsConnector::default_rustls()?;
            config.tls = Some(connector.into());
        }
        let mut builder = Builder::from_config(config);
        let max = u32::try_from(self.reconnect_max_ms).unwrap_or(u32::MAX);
        let min = u32::try_from(self.reconnect_min_ms).unwrap_or(u32::MAX);
        // max_attempts 0: never give up.
        builder.set_policy(ReconnectPolicy::new_exponential(0, min, max, 2));
        let command_timeout = Duration::from_millis(self.command_timeout_ms);
        builder.with_performance_config(|perf| {
            perf.default_command_timeout = command_timeout;
            perf.broadcast_channel_capacity = 4096;
        });
        let connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        builder.with_connection_config(|conn| {
            conn.connection_timeout = connect_timeout;
            conn.internal_command_timeout = connect_timeout;
            conn.reconnect_on_auth_error = true;
            conn.max_command_attempts = 3;
            conn.unresponsive = UnresponsiveConfig {
                max_timeout: Some(command_timeout.max(Duration::from_secs(2))),
                interval: Duration::from_millis(500),
            };
        });
        Ok(builder)
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Builds a client and starts connecting in the background (it does not wait: a service
/// starts while Redis is down and reports itself unready until it is up).
pub fn build_client(config: &RedisConfig) -> Result<Client, fred::error::Error> {
    let client = config.builder()?.build()?;
    // The returned handle ends when the client is closed; errors surface through health.
    let _connection_task = client.connect();
    Ok(client)
}
