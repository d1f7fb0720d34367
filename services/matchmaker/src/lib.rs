//! The Rallypoint matchmaker: queued tickets turned into fair matches, fast, with any
//! number of instances running at once.
//!
//! Every queue-region is a unit of work held by one instance through a lease; instances
//! share the units and take over a dead one's within the lease TTL. The holder keeps the
//! queue in memory, forms matches every tick (oldest first, a widening rating window,
//! balanced teams), claims each match's tickets in one fenced script, and hands the match
//! to the server pool.
//!
//! # Layout
//! - [`config`]: `[matchmaker]` (timings) and the shared `[matchmaking]` (queues).
//! - [`unit`]: the worker of one queue-region: lease, view, timeouts, sessions, matches.
//! - [`mirror`]: the in-memory queue, indexed by age and rating.
//! - [`matching`]: the pure rules: window, oldest first, nearest ratings, balanced teams.
//! - [`handover`]: after a claim, the `matches` crate's hand-over to the pool, then the
//!   claim marked done.
//! - [`figures`]: what this instance remembers for its reports (recent waits, held units).
//! - [`stats`]: `/v1/stats` and the metrics.
//! - [`inspect`]: `/v1/players/{id}`, one player's session, ticket and match.
//! - [`state`]: what the workers share.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod config;
pub mod figures;
pub mod handover;
pub mod inspect;
pub mod matching;
pub mod mirror;
pub mod state;
pub mod stats;
pub mod unit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use queues::Tickets;
use service_runtime::{ConfigError, LoadedConfig, Service, ServiceContext};

pub use config::Config;
use handover::Handover;
use state::Shared;

/// The matchmaker service.
#[derive(Debug)]
pub struct Matchmaker {
    shared: Arc<Shared>,
}

impl Service for Matchmaker {
    const NAME: &'static str = "matchmaker";
    const DEFAULTS: &'static str = concat!(
        queues::default_toml!(),
        r#"
[ops]
listen = "127.0.0.1:9200"

[matchmaker]
tick_ms = 100
lease_ms = 5000
resync_ms = 30000
session_check_ms = 2000
handover_retry_ms = 3000
max_matches_per_tick = 1000
match_ttl_ms = 3600000
"#
    );
    type Config = Config;

    fn load_config(config: &LoadedConfig) -> Result<Config, ConfigError> {
        Config::load(config)
    }

    async fn build(ctx: &ServiceContext, config: Config) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            tickets: Tickets::new(
                ctx.keys.clone(),
                ctx.redis.clone(),
                queues::JoinPolicy::from_config(&config.matchmaking),
            ),
            handover: Handover {
                matches: matches::Matches::from_context(ctx),
                match_ttl: Duration::from_millis(config.matchmaker.match_ttl_ms),
            },
            config,
            ctx: ctx.clone(),
            recent: figures::Recent::default(),
            held: figures::Held::default(),
        });
        Ok(Self { shared })
    }

    fn ops_routes(&self) -> Router {
        stats::routes(self.shared.clone()).merge(inspect::routes(self.shared.clone()))
    }

    fn stats_source(&self) -> Option<service_runtime::instances::StatsSource> {
        Some(stats::source(self.shared.clone()))
    }

    async fn run(self, ctx: ServiceContext) -> anyhow::Result<()> {
        let stop = ctx.shutdown.child_token();
        let units: Vec<_> = self
            .shared
            .config
            .matchmaking
            .queues
            .iter()
            .flat_map(|(queue, definition)| {
                definition
                    .regions
                    .iter()
                    .map(move |region| (queue.clone(), region.clone(), definition.clone()))
            })
            .collect();
        // The queue-regions spread over the matchmaker's instances.
        let share = ctx.fair_share(units.len(), stop.clone());
        let workers: Vec<_> = units
            .into_iter()
            .map(|(queue, region, definition)| {
                tokio::spawn(unit::run(
                    self.shared.clone(),
                    unit::Unit {
                        queue,
                        region,
                        definition,
                    },
                    share.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        tracing::info!(units = workers.len(), "matching");
        ctx.shutdown.cancelled().await;
        for worker in workers {
            if let Err(err) = worker.await {
                tracing::warn!(error = %err, "a queue worker failed");
            }
        }
        Ok(())
    }
}
