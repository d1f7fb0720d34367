//! The service runner: what every service binary does around its own work.
//!
//! `main.rs` of a service is one call, [`main`]: parse `--config`, load and validate the
//! config (a bad value exits 64 with one line naming the key), start logging, connect to
//! Redis, start the subscription manager, the ops server and the instance announcer, run
//! the service until SIGTERM/SIGINT, drain within the deadline, exit 0. Tests call
//! [`start`] to run a service in-process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use clap::Parser;
use fred::prelude::{Client, ClientLike};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::config::{ConfigError, LoadedConfig};
use crate::instances::{InstanceInfo, Registry, StatsSource};
use crate::lease::FairShare;
use crate::ops::{self, OpsServer};
use crate::publish::Publisher;
use crate::readiness::Readiness;
use crate::redis::{RedisHealth, build_client};
use crate::subscriptions::{SubscriptionConfig, Subscriptions};
use crate::telemetry::{self, Telemetry};

/// Exit code for a configuration error: 64 (`EX_USAGE`), "fix how you started me".
pub const EXIT_CONFIG: u8 = 64;

/// One Rallypoint service.
pub trait Service: Sized + Send + 'static {
    /// The service's name: its config section, log target and registry entry.
    const NAME: &'static str;
    /// TOML defaults for the service's own section (and any common key it changes,
    /// such as `[ops] listen`).
    const DEFAULTS: &'static str;
    /// Everything the service reads from the config beyond the common sections.
    type Config: Send + Sync + 'static;

    /// Reads and checks the service's config (usually its own section, with
    /// [`load_section`]; the gateway also reads the shared `[matchmaking]`). A bad value
    /// stops the service at start, with an error naming the key.
    fn load_config(config: &LoadedConfig) -> Result<Self::Config, ConfigError>;

    /// The service's own listeners (`("ws", 127.0.0.1:8080)`), logged at start and
    /// reported by [`RunningService::endpoint`].
    fn endpoints(&self) -> Vec<(&'static str, SocketAddr)> {
        Vec::new()
    }

    /// Builds the service: binds its listeners, loads its scripts. Runs before the
    /// instance announces itself.
    fn build(
        ctx: &ServiceContext,
        config: Self::Config,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Operator routes served on the ops port next to health and metrics.
    fn ops_routes(&self) -> Router {
        Router::new()
    }

    /// This instance's figures, announced with it in the registry on every renewal: what
    /// the cluster view and the dashboard show of it ([`crate::ops::cluster`]).
    fn stats_source(&self) -> Option<StatsSource> {
        None
    }

    /// Does the service's work until `ctx.shutdown` fires, then finishes what it holds.
    fn run(self, ctx: ServiceContext) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a service gets from the runtime.
#[derive(Debug, Clone)]
pub struct ServiceContext {
    pub service: &'static str,
    pub instance_id: String,
    pub version: &'static str,
    pub config: LoadedConfig,
    pub keys: core_keys::Keys,
    /// The command connection (cluster-aware, pipelined, shared).
    pub redis: Client,
    pub redis_health: RedisHealth,
    pub publisher: Publisher,
    pub subscriptions: Subscriptions,
    pub readiness: Readiness,
    pub registry: Registry,
    /// Fires when the service must stop taking work and drain.
    pub shutdown: CancellationToken,
}

impl ServiceContext {
    /// A [`FairShare`] of `units` leased units for this instance, kept current from the
    /// instance registry (every `instance.announce_interval_ms`) until `stop`. Give it to
    /// each of the units' lease keepers ([`crate::lease::LeaseKeeper::with_share`]).
    pub fn fair_share(&self, units: usize, stop: CancellationToken) -> Arc<FairShare> {
        let share = FairShare::new(units);
        let _refresh = share.spawn_refresh(
            self.registry.clone(),
            self.redis.clone(),
            self.service,
            Duration::from_millis(self.config.common.instance.announce_interval_ms),
            Duration::from_millis(self.config.common.instance.announce_ttl_ms),
            stop,
        );
        share
    }
}

/// A service started by [`start`].
#[derive(Debug)]
pub struct RunningService {
    pub name: &'static str,
    pub instance_id: String,
    pub ops_addr: SocketAddr,
    /// The service's own listeners, by name.
    pub endpoints: Vec<(&'static str, SocketAddr)>,
    readiness: Readiness,
    shutdown: CancellationToken,
    background: CancellationToken,
    drain_deadline: Duration,
    work: tokio::task::JoinHandle<anyhow::Result<()>>,
    announcer: tokio::task::JoinHandle<()>,
    ops: OpsServer,
    redis: Client,
}

/// Reads section `name` as `T` and checks it with `validate`: the usual
/// [`Service::load_config`].
pub fn load_section<T: DeserializeOwned>(
    config: &LoadedConfig,
    name: &str,
    validate: impl FnOnce(&T) -> Result<(), ConfigError>,
) -> Result<T, ConfigError> {
    let section: T = config.section(name)?;
    validate(&section)?;
    Ok(section)
}

/// Starts service `S` with `config`: everything [`main`] does except signals and logs.
pub async fn start<S: Service>(config: LoadedConfig) -> anyhow::Result<RunningService> {
    let section = S::load_config(&config)?;
    let common = &config.common;
    let keys = common.redis.keys()?;
    let instance_id = if common.instance.id.is_empty() {
        format!(
            "{}-{}",
            S::NAME,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    } else {
        common.instance.id.clone()
    };
    let background = CancellationToken::new();
    let shutdown = CancellationToken::new();

    let redis = build_client(&common.redis).context("cannot set up the Redis client")?;
    let redis_health = RedisHealth::new();
    let command_timeout = Duration::from_millis(common.redis.command_timeout_ms);
    redis_health.spawn_probe(
        redis.clone(),
        Duration::from_millis(common.redis.health_interval_ms),
        command_timeout,
        background.clone(),
    );
    let publisher = Publisher::new(redis.clone());
    let subscriptions = Subscriptions::start(
        &redis,
        publisher.clone(),
        keys.clone(),
        &instance_id,
        SubscriptionConfig::from_redis(&common.redis),
        background.child_token(),
    );
    let readiness = Readiness::new(redis_health.clone());
    crate::redis::eviction::spawn_check(redis.clone(), readiness.clone(), background.clone());
    let registry = Registry::new(keys.clone());
    let ctx = ServiceContext {
        service: S::NAME,
        instance_id: instance_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        config: config.clone(),
        keys,
        redis: redis.clone(),
        redis_health,
        publisher,
        subscriptions,
        readiness: readiness.clone(),
        registry: registry.clone(),
        shutdown: shutdown.clone(),
    };

    let service = S::build(&ctx, section)
        .await
        .with_context(|| format!("cannot start the {}", S::NAME))?;
    let operator = service.ops_routes().merge(ops::cluster::routes(
        registry.clone(),
        redis.clone(),
        // Three announcements missed: the instance is hung or cut off.
        3 * common.instance.announce_interval_ms,
    ));
    let router = ops::router(
        readiness.clone(),
        telemetry::metrics_handle(),
        std::time::Duration::from_millis(common.ops.redis_outage_grace_ms),
    )
    .merge(ops::operator_routes(operator, &common.ops.admin_token))
    .merge(ops::dashboard::routes(
        &common.ops.admin_token,
        common.ops.secure_cookie,
    ));
    let ops = OpsServer::start(&common.ops.listen, router, background.clone())
        .await
        .with_context(|| format!("cannot listen on ops.listen = {}", common.ops.listen))?;
    let address = if common.instance.advertise.is_empty() {
        ops.local_addr.to_string()
    } else {
        common.instance.advertise.clone()
    };
    let announcer = registry.spawn_announcer(
        redis.clone(),
        InstanceInfo {
            service: S::NAME.to_owned(),
            id: instance_id.clone(),
            version: ctx.version.to_owned(),
            address,
            started_ms: now_ms(),
        },
        service.stats_source(),
        Duration::from_millis(common.instance.announce_interval_ms),
        Duration::from_millis(common.instance.announce_ttl_ms),
        background.clone(),
    );
    let endpoints = service.endpoints();
    for (name, addr) in &endpoints {
        tracing::info!(endpoint = name, addr = %addr, "listening");
    }
    tracing::info!(service = S::NAME, instance = %instance_id, ops = %ops.local_addr, "started");
    let work = tokio::spawn(service.run(ctx));
    Ok(RunningService {
        name: S::NAME,
        instance_id,
        ops_addr: ops.local_addr,
        endpoints,
        readiness,
        shutdown,
        background,
        drain_deadline: Duration::from_millis(common.shutdown.drain_deadline_ms),
        work,
        announcer,
        ops,
        redis,
    })
}

impl RunningService {
    /// The address of the service's listener `name` (`"ws"` for the gateway).
    pub fn endpoint(&self, name: &str) -> Option<SocketAddr> {
        self.endpoints
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, addr)| *addr)
    }

    /// Waits until the service's work ends by itself (an error, usually).
    pub async fn finished(&mut self) -> anyhow::Result<()> {
        match (&mut self.work).await {
            Ok(result) => result,
            Err(err) => Err(anyhow::anyhow!("the {} task failed: {err}", self.name)),
        }
    }

    /// Drains and stops: unready, stop taking work, wait for it (bounded by the drain
    /// deadline), withdraw from the registry, close Redis.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.readiness.set_draining();
        self.shutdown.cancel();
        let result = if self.work.is_finished() {
            self.finished().await
        } else {
            match tokio::time::timeout(self.drain_deadline, &mut self.work).await {
                Ok(Ok(result)) => result,
                Ok(Err(err)) => Err(anyhow::anyhow!("the {} task failed: {err}", self.name)),
                Err(_) => {
                    tracing::warn!(
                        deadline_ms = self.drain_deadline.as_millis() as u64,
                        "drain deadline passed; abandoning the rest (leases lapse, others take over)"
                    );
                    self.work.abort();
                    Ok(())
                }
            }
        };
        self.background.cancel();
        if let Err(err) = self.announcer.await {
            tracing::warn!(error = %err, "registry announcer task failed");
        }
        // Open ops connections (a scraper, a stuck client) must not hold the exit up.
        if tokio::time::timeout(Duration::from_secs(5), self.ops.wait())
            .await
            .is_err()
        {
            tracing::warn!("ops server still had open connections after 5 s; leaving them");
        }
        if let Err(err) = self.redis.quit().await {
            tracing::debug!(error = %err, "redis quit failed; the connection closes anyway");
        }
        tracing::info!(service = self.name, "stopped");
        result
    }
}

/// Command-line arguments every service takes.
#[derive(Debug, Parser)]
struct Args {
    /// A TOML config file; environment variables (RALLYPOINT_...) override it.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Check the config (file and environment) as at start, say `config ok` or name the
    /// bad key, and exit without connecting to anything: for deploy pipelines.
    #[arg(long)]
    check_config: bool,
}

/// The async runtime for `threads` workers (`runtime.threads`): 0 one per core, 1 a
/// single-threaded runtime (no wake-ups across threads), more that many workers.
pub fn runtime_builder(threads: usize) -> tokio::runtime::Builder {
    match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    }
}

/// The whole life of a service binary. `main.rs` is `service_runtime::main::<S>()`.
pub fn main<S: Service>() -> ExitCode {
    // sqlx's and fred's rustls must agree on one crypto provider (docs/STACK.md).
    let _already_installed_is_fine =
        rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = Args::parse();
    let binary = format!("rallypoint-{}", S::NAME);
    let config = match LoadedConfig::load(S::DEFAULTS, args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => return config_error(&binary, &err),
    };
    if let Err(err) = S::load_config(&config) {
        return config_error(&binary, &err);
    }
    if args.check_config {
        println!("{binary}: config ok");
        return ExitCode::SUCCESS;
    }
    let runtime = match runtime_builder(config.common.runtime.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{binary}: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let telemetry = Telemetry::init(S::NAME, &config.common.log)?;
        let result = run_until_signal::<S>(config).await;
        if let Err(err) = &result {
            tracing::error!(error = format!("{err:#}"), "stopped with an error");
        }
        telemetry.shutdown().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{binary}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_until_signal<S: Service>(config: LoadedConfig) -> anyhow::Result<()> {
    let signal = crate::shutdown::listen();
    tokio::pin!(signal);
    let mut running = tokio::select! {
        started = start::<S>(config) => started?,
        signal = &mut signal => {
            tracing::info!(signal, "stopped while starting");
            return Ok(());
        }
    };
    tokio::select! {
        signal = &mut signal => {
            tracing::info!(signal, "shutting down: draining");
            running.stop().await
        }
        result = running.finished() => {
            result?;
            anyhow::bail!("the {} stopped by itself", S::NAME)
        }
    }
}

fn config_error(binary: &str, err: &ConfigError) -> ExitCode {
    eprintln!("{binary}: {err}");
    ExitCode::from(EXIT_CONFIG)
}
