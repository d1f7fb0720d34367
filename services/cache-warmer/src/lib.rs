//! The Rallypoint cache-warmer: the bridge between PostgreSQL (the system of record) and
//! Redis (what every hot path reads), so that no hot path waits on the database and no
//! match result is ever lost.
//!
//! # Layout
//! - [`config`]: `[database]`, `[warmer]`, and the regions of `[matchmaking]`.
//! - [`database`]: the pool; PostgreSQL down marks the instance degraded, not unready.
//! - [`outbox`]: each region's results outbox committed to PostgreSQL (lease per region):
//!   match, participants, Elo ratings in one idempotent transaction, then the profiles.
//! - [`profiles`]: profiles warmed on request and by a reconcile scan (lease), and the
//!   one version-checked write path for a profile.
//! - [`game_data`]: static game data warmed per kind (lease per kind) on start, on a
//!   timer and on invalidation.
//! - [`api`]: the operator routes `POST /v1/cache/invalidate` and `GET /v1/stats`.
//! - [`state`]: what these share, and the announcement of changes to readers.
//!
//! Several instances may run: each unit of work (a region's outbox, the profile warming,
//! a data kind) is done by one at a time, and a dead instance's units are taken over
//! within a lease.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod api;
pub mod blocks;
pub mod config;
pub mod database;
pub mod game_data;
pub mod outbox;
pub mod profiles;
pub mod state;

use std::sync::Arc;

use axum::Router;
use service_runtime::{ConfigError, LoadedConfig, Service, ServiceContext};

pub use config::Config;
use database::Database;
use state::Shared;

/// The cache-warmer service.
#[derive(Debug)]
pub struct CacheWarmer {
    shared: Arc<Shared>,
    data_requests: tokio::sync::mpsc::Receiver<Option<String>>,
}

impl Service for CacheWarmer {
    const NAME: &'static str = "cache-warmer";
    const DEFAULTS: &'static str = concat!(
        queues::default_toml!(),
        r#"
[ops]
listen = "127.0.0.1:9400"

[database]
url = ""
max_connections = 16
connect_timeout_ms = 5000
migrate_on_start = true

[warmer]
k_factor = 32.0
lease_ms = 5000
results_poll_ms = 100
results_batch = 64
reconcile_interval_ms = 30000
data_refresh_interval_ms = 60000
warm_batch_window_ms = 5
max_body_bytes = 65536
"#
    );
    type Config = Config;

    fn load_config(config: &LoadedConfig) -> Result<Config, ConfigError> {
        Config::load(config)
    }

    async fn build(ctx: &ServiceContext, config: Config) -> anyhow::Result<Self> {
        let db = Database::new(&config.database, ctx.readiness.clone())?;
        if config.database.migrate_on_start {
            // Not fatal: with PostgreSQL down the service still serves what Redis holds,
            // and the schema is checked again by the first query that needs it.
            match db.observe(persistence::migrate(&db.pool).await) {
                Ok(()) => tracing::info!("database schema is up to date"),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot migrate the database schema now; results wait in Redis until PostgreSQL is reachable")
                }
            }
        }
        let (data_tx, data_requests) = tokio::sync::mpsc::channel(64);
        let shared = Arc::new(Shared {
            config,
            ctx: ctx.clone(),
            db,
            matches: matches::Matches::from_context(ctx),
            data_requests: data_tx,
        });
        Ok(Self {
            shared,
            data_requests,
        })
    }

    fn ops_routes(&self) -> Router {
        api::routes(self.shared.clone())
    }

    fn stats_source(&self) -> Option<service_runtime::instances::StatsSource> {
        Some(api::source(self.shared.clone()))
    }

    async fn run(self, ctx: ServiceContext) -> anyhow::Result<()> {
        let Self {
            shared,
            data_requests,
        } = self;
        let stop = ctx.shutdown.child_token();
        let mut workers = Vec::new();
        // The regions' outboxes spread over the cache-warmer's instances.
        let share = ctx.fair_share(shared.config.regions.len(), stop.clone());
        for region in shared.config.regions.iter().cloned() {
            workers.push(tokio::spawn(outbox::run(
                shared.clone(),
                region,
                share.clone(),
                stop.clone(),
            )));
        }
        workers.push(tokio::spawn(profiles::run(shared.clone(), stop.clone())));
        workers.push(tokio::spawn(blocks::run(shared.clone(), stop.clone())));
        workers.push(tokio::spawn(game_data::run(
            shared.clone(),
            data_requests,
            stop.clone(),
        )));
        ctx.shutdown.cancelled().await;
        // Each worker finishes its round (a result in flight is committed or left in the
        // outbox) and lets its leases go, so another instance takes over at once.
        for worker in workers {
            if let Err(err) = worker.await {
                tracing::error!(error = %err, "a cache-warmer worker panicked");
            }
        }
        shared.db.pool.close().await;
        Ok(())
    }
}

/// `rallypoint-cache-warmer migrate [--config PATH]`: applies the migrations and exits.
pub fn migrate_command(args: Vec<String>) -> std::process::ExitCode {
    use std::process::ExitCode;
    let _already_installed_is_fine =
        rustls::crypto::aws_lc_rs::default_provider().install_default();
    let file = match args.as_slice() {
        [] => None,
        [flag, path] if flag == "--config" => Some(std::path::PathBuf::from(path)),
        _ => {
            eprintln!("usage: rallypoint-cache-warmer migrate [--config PATH]");
            return ExitCode::from(2);
        }
    };
    let config = match LoadedConfig::load(CacheWarmer::DEFAULTS, file.as_deref())
        .and_then(|loaded| Config::load(&loaded))
    {
        Ok(config) => config,
        Err(err) => {
            eprintln!("rallypoint-cache-warmer: {err}");
            // EX_CONFIG, as the service itself exits on a bad config value.
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rallypoint-cache-warmer: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let pool = persistence::connect(
            &config.database.url,
            1,
            std::time::Duration::from_millis(config.database.connect_timeout_ms),
        )
        .await?;
        persistence::migrate(&pool).await?;
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await?;
        Ok::<_, persistence::DbError>(applied)
    });
    match outcome {
        Ok(applied) => {
            println!(
                "rallypoint-cache-warmer: the schema is up to date ({applied} migrations applied)"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rallypoint-cache-warmer: migrate failed: {err}");
            ExitCode::FAILURE
        }
    }
}
