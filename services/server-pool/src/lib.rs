//! The Rallypoint server pool: dedicated game servers register and heartbeat over HTTP
//! (PROTOCOL.md section 2), and every formed match is given to a server with room.
//!
//! # Layout
//! - [`config`]: `[pool]` and the regions of `[matchmaking]`.
//! - [`api`]: the game-server HTTP API: who calls, bodies, answers.
//! - [`credentials`]: game servers' own tokens: issued at registration, checked on
//!   every later call.
//! - [`registry`]: servers per region in Redis: register, heartbeat, drain.
//! - [`region`]: the worker of each region, under a lease: allocation and announcement,
//!   the deadlines, reaping, the region's gauges.
//! - [`reaper`]: servers whose heartbeat lapsed: out of the pool, their games dealt with.
//! - [`figures`]: the latest figures of the regions this instance works.
//! - [`ops`]: `/v1/stats` and the operator's drain.
//! - [`state`]: what all of these share.
//!
//! What happens to a match (allocation, `match.found`, ack, result, cancel) is the
//! `matches` crate's; this service runs the loops and the HTTP API that call it.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod api;
pub mod config;
pub mod credentials;
pub mod figures;
pub mod ops;
pub mod reaper;
pub mod region;
pub mod registry;
pub mod result_groups;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use service_runtime::{ConfigError, LoadedConfig, Service, ServiceContext};
use tokio::net::TcpListener;

pub use config::Config;
use matches::{Announcer, Matches};
use registry::Registry;
use result_groups::ResultGroups;
use state::Shared;

/// Clients (each with a connection per master) for the writes answered only once a
/// replica has them: one for the allocations, the others for results, in turn.
const REPLICATED_CLIENTS: usize = 8;

/// The server-pool service.
#[derive(Debug)]
pub struct ServerPool {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Service for ServerPool {
    const NAME: &'static str = "server-pool";
    const DEFAULTS: &'static str = concat!(
        queues::default_toml!(),
        r#"
[ops]
listen = "127.0.0.1:9300"

[pool]
listen = "127.0.0.1:8090"
token = ""
previous_token = ""
join_secret = ""
max_game_ms = 14400000
replicas_to_ack = 1
replica_ack_timeout_ms = 1000
result_group_ms = 25
result_group_max = 64
heartbeat_interval_ms = 10000
heartbeat_ttl_ms = 60000
tick_ms = 50
lease_ms = 5000
announce_retry_ms = 2000
allocate_timeout_ms = 10000
reap_interval_ms = 1000
ack_timeout_ms = 30000
long_poll_max_ms = 30000
max_body_bytes = 65536
"#
    );
    type Config = Config;

    fn load_config(config: &LoadedConfig) -> Result<Config, ConfigError> {
        Config::load(config)
    }

    async fn build(ctx: &ServiceContext, config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.pool.listen)
            .await
            .with_context(|| format!("cannot listen on pool.listen = {}", config.pool.listen))?;
        let addr = listener.local_addr()?;
        let registry = Registry {
            keys: ctx.keys.clone(),
            redis: ctx.redis.clone(),
            heartbeat_ttl: Duration::from_millis(config.pool.heartbeat_ttl_ms),
            max_game: Duration::from_millis(config.pool.max_game_ms),
        };
        // Allocations and results are confirmed by replicas (WAIT) on connections of
        // their own, so a slow replica never holds back the pool's other commands; several,
        // so one result's wait does not queue the next or the allocations.
        let replicated = (0..REPLICATED_CLIENTS)
            .map(|_| service_runtime::redis::build_client(&ctx.config.common.redis))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot build the Redis clients for replicated writes")?;
        let matches = Matches::from_context(ctx).with_replication(matches::Replicated::new(
            replicated,
            config.pool.replicas_to_ack,
            Duration::from_millis(config.pool.replica_ack_timeout_ms),
        ));
        let result_groups = ResultGroups::start(
            matches.clone(),
            Duration::from_millis(config.pool.result_group_ms),
            config.pool.result_group_max,
        );
        let shared = Arc::new(Shared {
            result_groups,
            announcer: Announcer::new(
                matches.clone(),
                &config.pool.join_secret,
                config.pool.join_token_ttl(),
            ),
            matches,
            registry,
            config,
            region_figures: Default::default(),
            ctx: ctx.clone(),
        });
        Ok(Self {
            listener,
            addr,
            shared,
        })
    }

    fn endpoints(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![("http", self.addr)]
    }

    fn ops_routes(&self) -> Router {
        ops::routes(self.shared.clone())
    }

    fn stats_source(&self) -> Option<service_runtime::instances::StatsSource> {
        Some(ops::source(self.shared.clone()))
    }

    async fn run(self, ctx: ServiceContext) -> anyhow::Result<()> {
        let Self {
            listener, shared, ..
        } = self;
        let stop = ctx.shutdown.child_token();
        // The regions spread over the pool's instances.
        let share = ctx.fair_share(shared.config.regions.len(), stop.clone());
        let workers: Vec<_> = shared
            .config
            .regions
            .iter()
            .map(|region| {
                tokio::spawn(region::run(
                    shared.clone(),
                    region.clone(),
                    share.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        // Not yet service_runtime::http_server: with it, the failover-under-traffic test
        // saw a game server learn of an assignment more than 3 s late (1 run in 6; 0 in
        // 7 with axum::serve), cause not found yet.
        let served = axum::serve(listener, api::router(shared.clone()))
            .with_graceful_shutdown(ctx.shutdown.clone().cancelled_owned())
            .await;
        for worker in workers {
            if let Err(err) = worker.await {
                tracing::warn!(error = %err, "a region worker failed");
            }
        }
        // The replicated writes' own connections (the runtime closes its client).
        for client in shared.matches.replicated().clients() {
            if let Err(err) = fred::prelude::ClientLike::quit(client).await {
                tracing::debug!(error = %err, "closing a replicated writes' client");
            }
        }
        served.map_err(|err| anyhow::anyhow!("the game-server listener failed: {err}"))
    }
}
