//! The Rallypoint cache-warmer: the bridge to PostgreSQL: warms game data and profiles into Redis, persists results.
//!
//! This is the service's skeleton on the shared runtime: it starts, connects to Redis,
//! serves its ops endpoints (`/health/live`, `/health/ready`, `/metrics`), announces
//! itself in the instance registry and drains on SIGTERM. Its own work lands in its own
//! issue; until then it holds no state and takes no traffic of its own.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use serde::Deserialize;
use service_runtime::{ConfigError, LoadedConfig, Service, ServiceContext};

/// The `[cache-warmer]` config section. Empty for now: the service's own settings arrive with its
/// work.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// The cache-warmer service.
#[derive(Debug)]
pub struct CacheWarmer;

impl Service for CacheWarmer {
    const NAME: &'static str = "cache-warmer";
    const DEFAULTS: &'static str = r#"
[ops]
listen = "127.0.0.1:9400"
"#;
    type Config = Config;

    fn load_config(config: &LoadedConfig) -> Result<Config, ConfigError> {
        service_runtime::service::load_section(config, Self::NAME, |_: &Config| Ok(()))
    }

    async fn build(_ctx: &ServiceContext, _config: Config) -> anyhow::Result<Self> {
        Ok(Self)
    }

    async fn run(self, ctx: ServiceContext) -> anyhow::Result<()> {
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}
