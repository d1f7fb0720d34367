//! Configuration: built-in defaults, then an optional TOML file (`--config PATH`), then
//! `RALLYPOINT_` environment variables with `__` between levels
//! (`RALLYPOINT_REDIS__URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001`).
//!
//! Every service reads the common sections ([`CommonConfig`]) and its own section
//! (`[gateway]`, `[matchmaker]`, ...) through [`LoadedConfig::section`]. Validation errors
//! name the key, so a bad value stops a service with one line an operator can act on.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use crate::check::{ConfigError, positive};
use crate::redis::RedisConfig;

/// The prefix of every environment variable the services read.
pub const ENV_PREFIX: &str = "RALLYPOINT";

/// The sections every service shares.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonConfig {
    pub instance: InstanceConfig,
    pub redis: RedisConfig,
    pub ops: OpsConfig,
    pub log: LogConfig,
    pub shutdown: ShutdownConfig,
    pub runtime: RuntimeConfig,
}

/// `[instance]`: who this process is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// A stable id for this instance (ECS task id, hostname). Empty: a random one.
    #[serde(default)]
    pub id: String,
    /// The address other parties reach this instance at, as announced in the registry.
    /// Empty: the ops listen address.
    #[serde(default)]
    pub advertise: String,
    /// How often this instance renews its registry entry (with its current figures, which
    /// the dashboard shows), in ms.
    pub announce_interval_ms: u64,
    /// How long the registry entry lives without renewal, in ms.
    pub announce_ttl_ms: u64,
    /// What kind of deployment this is: `production` (the default), `staging` or
    /// `development`. Only a development one may turn on what must never face players
    /// (guest sign-in).
    pub environment: String,
}

/// The values `instance.environment` may take.
pub const ENVIRONMENTS: [&str; 3] = ["production", "staging", "development"];

impl InstanceConfig {
    /// Whether this is a development deployment (`instance.environment = "development"`).
    pub fn is_development(&self) -> bool {
        self.environment == "development"
    }
}

/// `[ops]`: the operator HTTP endpoint (health, metrics, stats).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Where the ops HTTP server listens (`127.0.0.1:9101`; port 0 picks a free port).
    pub listen: String,
    /// Bearer token for operator calls (`/v1/...`). Empty: operator calls are refused.
    #[serde(default)]
    pub admin_token: crate::secret::Secret,
    /// Mark the dashboard's sign-in cookie `Secure` (the ops port is reached over TLS,
    /// e.g. behind an HTTPS load balancer): a browser then never sends it in clear.
    #[serde(default)]
    pub secure_cookie: bool,
    /// `/health/ready` stays 200 (`degraded`) through a Redis outage this long (a
    /// failover), so a load balancer does not take every instance out at once; then 503.
    /// 0: 503 at once. The instance itself refuses what needs Redis meanwhile.
    #[serde(default)]
    pub redis_outage_grace_ms: u64,
}

/// `[log]`: logs and traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (human-readable) or `json` (one object per line, for log shippers).
    pub format: String,
    /// A tracing filter (`info`, `rallypoint=debug,fred=warn`); `RUST_LOG` overrides it.
    pub level: String,
}

/// `[shutdown]`: graceful stop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// How long the service may take to finish its work after SIGTERM, in ms.
    pub drain_deadline_ms: u64,
}

/// `[runtime]`: the async runtime the process runs on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads: 0 one per core; 1 a single-threaded runtime (the default: no
    /// wake-ups across threads, the cheapest per operation; every service scales by
    /// instances, one per vCPU or less); more, that many workers.
    pub threads: usize,
}

/// The most worker threads `runtime.threads` may ask for.
pub const MAX_RUNTIME_THREADS: usize = 256;

/// Defaults of the common sections, as TOML; services add their own section's defaults.
const COMMON_DEFAULTS: &str = r#"
[instance]
id = ""
advertise = ""
announce_interval_ms = 2000
announce_ttl_ms = 15000
environment = "production"

[redis]
urls = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001", "redis://127.0.0.1:7002"]
mode = "cluster"
namespace = "rp"
username = ""
password = ""
tls = false
connect_timeout_ms = 5000
command_timeout_ms = 3000
reconnect_min_ms = 100
reconnect_max_ms = 5000
health_interval_ms = 1000
topology_check_interval_ms = 2000
canary_interval_ms = 1000
canary_timeout_ms = 3000
subscription_buffer = 1024

[ops]
listen = "127.0.0.1:0"
admin_token = ""
secure_cookie = false
redis_outage_grace_ms = 0

[log]
format = "text"
level = "info"

[shutdown]
drain_deadline_ms = 10000

# One thread: no wake-ups across threads per operation (measured: a third less gateway
# CPU per delivery, a fifth less pool and cache-warmer CPU per matched ticket than one
# worker per core). Services scale by instances, one per vCPU or less.
[runtime]
threads = 1
"#;

/// A loaded configuration: the common sections parsed and validated, and the raw tree for
/// the service's own section.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub common: CommonConfig,
    raw: config::Config,
}

impl LoadedConfig {
    /// Loads defaults (common + `service_defaults`, a TOML snippet), then `file` if given,
    /// then the environment, and validates the common sections.
    pub fn load(service_defaults: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(service_defaults, file, None)
    }

    /// As [`LoadedConfig::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        service_defaults: &str,
        file: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(
                COMMON_DEFAULTS,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from_str(
                service_defaults,
                config::FileFormat::Toml,
            ));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        // No `try_parsing`: it would turn a secret like `0123` into the number 123. Typed
        // fields still parse their strings; lists accept "a,b,c" (see `RedisConfig`).
        let env = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .source(env);
        let raw = builder.add_source(env).build().map_err(from_config_error)?;
        check_sections(&raw, service_defaults)?;
        let common: CommonConfig = raw.clone().try_deserialize().map_err(from_config_error)?;
        common.validate()?;
        Ok(Self { common, raw })
    }

    /// The service's own section (`gateway`, `matchmaker`, ...), parsed.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let value: config::Value = match self.raw.get(name) {
            Ok(value) => value,
            // A section with nothing set is an empty table: its fields' defaults apply.
            Err(config::ConfigError::NotFound(_)) => {
                config::Value::new(None, config::Map::<String, config::Value>::new())
            }
            Err(err) => return Err(from_config_error(err)),
        };
        // serde_path_to_error tracks the field that failed, so the error names the key.
        serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let key = if path.is_empty() || path == "." {
                name.to_owned()
            } else {
                format!("{name}.{path}")
            };
            let inner = from_config_error(err.into_inner());
            ConfigError::new(key, inner.message)
        })
    }
}

/// Every section some Rallypoint service reads. A file or variable may set another
/// service's section (one environment is often shared by all of them), but not a section
/// no service has: a misspelt `RALLYPOINT_REDIS_URLS` (one underscore) would otherwise be
/// ignored without a word.
pub const SECTIONS: &[&str] = &[
    "instance",
    "redis",
    "ops",
    "log",
    "shutdown",
    "runtime",
    "gateway",
    "matchmaking",
    "matchmaker",
    "pool",
    "warmer",
    "database",
];

/// Refuses a top-level key that is neither in [`SECTIONS`] nor in the service's own
/// defaults.
fn check_sections(raw: &config::Config, service_defaults: &str) -> Result<(), ConfigError> {
    let own: Vec<String> = config::Config::builder()
        .add_source(config::File::from_str(
            service_defaults,
            config::FileFormat::Toml,
        ))
        .build()
        .and_then(|defaults| defaults.try_deserialize::<config::Map<String, config::Value>>())
        .map(|table| table.into_keys().collect())
        .unwrap_or_default();
    let table = raw
        .clone()
        .try_deserialize::<config::Map<String, config::Value>>()
        .map_err(from_config_error)?;
    match table
        .keys()
        .find(|key| !SECTIONS.contains(&key.as_str()) && !own.contains(key))
    {
        Some(key) => Err(ConfigError::new(
            key.clone(),
            format!(
                "is not a config section (those are {}): a variable is RALLYPOINT_<SECTION>__<KEY> with two underscores, e.g. RALLYPOINT_REDIS__URLS",
                SECTIONS.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

impl CommonConfig {
    /// Checks values the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
        self.ops.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "ops.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:9101",
                    self.ops.listen
                ),
            )
        })?;
        if !ENVIRONMENTS.contains(&self.instance.environment.as_str()) {
            return Err(ConfigError::new(
                "instance.environment",
                format!(
                    "{:?} is not one of {}",
                    self.instance.environment,
                    ENVIRONMENTS.join(", ")
                ),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::new(
                "log.format",
                format!("{:?} is not one of text, json", self.log.format),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            ConfigError::new(
                "log.level",
                format!("{:?} is not a log filter: {e}", self.log.level),
            )
        })?;
        if !self.instance.id.is_empty() && !valid_id(&self.instance.id) {
            return Err(ConfigError::new(
                "instance.id",
                "must be 1 to 64 characters of letters, digits, '_', '.', ':' or '-'",
            ));
        }
        positive(
            "instance.announce_interval_ms",
            self.instance.announce_interval_ms,
        )?;
        if self.instance.announce_ttl_ms <= self.instance.announce_interval_ms {
            return Err(ConfigError::new(
                "instance.announce_ttl_ms",
                "must be longer than instance.announce_interval_ms",
            ));
        }
        positive(
            "shutdown.drain_deadline_ms",
            self.shutdown.drain_deadline_ms,
        )?;
        if self.runtime.threads > MAX_RUNTIME_THREADS {
            return Err(ConfigError::new(
                "runtime.threads",
                format!("must be at most {MAX_RUNTIME_THREADS} (0: one per core)"),
            ));
        }
        Ok(())
    }
}

/// Ids (instances, players, servers) share PROTOCOL.md's rule: 1 to 64 characters of
/// `[A-Za-z0-9_.:-]`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// Turns the `config` crate's error into ours, pulling out the key it names.
fn from_config_error(err: config::ConfigError) -> ConfigError {
    let text = err.to_string();
    // The config crate phrases key errors as "... for key `redis.tls`" (sometimes with
    // " in <origin>" after it).
    if let Some(start) = text.find("for key `") {
        let rest = &text[start + "for key `".len()..];
        if let Some(end) = rest.find('`') {
            let key = rest[..end].to_owned();
            let message = text[..start].trim_end().to_owned();
            return ConfigError::new(key, message);
        }
    }
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return ConfigError::new(field, "is required");
    }
    if let Some(field) = text
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        return ConfigError::new(field, text.clone());
    }
    ConfigError::new("config", text)
}

#[cfg(test)]
mod tests;
