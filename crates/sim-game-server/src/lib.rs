//! A simulated dedicated game server, speaking the game-server protocol
//! (`proto/PROTOCOL.md`, section 2) as a real one would: the local stack runs a few of them,
//! and the end-to-end tests and the load generator use them.
//!
//! It registers with the server pool (trying each pool address in turn) with the fleet's
//! registration token, and makes every later call with the `server_token` the
//! registration answered. It heartbeats at the interval the pool asks for, listing the
//! games it runs (registering again if the pool forgot it), long-polls for
//! assignments and acknowledges each, then for each match: waits until every player has
//! joined (`POST /v1/join` on its own address with the join token from `match.found`,
//! checked with the join secret: bound to the match, the player, this server, unexpired) or
//! the join timeout passes, "plays" for a while, and posts a result (teams in a random
//! order, best first), retrying until the pool has it. On Ctrl-C or SIGTERM it leaves the
//! pool (`DELETE /v1/servers/{id}`), finishes its games and exits.
//!
//! The pool's protocol and the join-token check are the game-server SDK's
//! (`crates/game-server-sdk`): this crate is what a game adds to it. Layout: [`games`]
//! (matches in play and the join endpoint: the SDK's `Games`), this file (the arguments).

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod games;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use game_server_sdk::{Exit, JoinVerifier, PoolClient};

use crate::games::Games;

/// The simulated server's settings (flags, or the environment variables named).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "rallypoint-sim-server",
    about = "A simulated Rallypoint game server"
)]
pub struct Args {
    /// Server pool base URLs, tried in turn.
    #[arg(
        long,
        env = "SIM_POOL_URLS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8090"
    )]
    pub pool: Vec<String>,
    /// The fleet's registration token (`pool.token`).
    #[arg(long, env = "SIM_POOL_TOKEN")]
    pub token: String,
    /// The key players' join tokens are checked with (`pool.join_secret`).
    #[arg(long, env = "SIM_JOIN_SECRET")]
    pub join_secret: String,
    /// The join secret being rotated out: join tokens signed with it are accepted too
    /// (deploy/OPERATIONS.md, "Join secret").
    #[arg(long, env = "SIM_PREVIOUS_JOIN_SECRET")]
    pub previous_join_secret: Option<String>,
    /// This server's id.
    #[arg(long, env = "SIM_ID")]
    pub id: String,
    #[arg(long, env = "SIM_REGION", default_value = "eu")]
    pub region: String,
    /// Games at once.
    #[arg(long, env = "SIM_CAPACITY", default_value_t = 8)]
    pub capacity: u32,
    /// Where players join (`POST /v1/join`); its address is what `match.found` shows them.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// How long a game lasts once started, in ms (each game a random 50-100% of it).
    #[arg(long, env = "SIM_GAME_MS", default_value_t = 3000)]
    pub game_ms: u64,
    /// How long a match waits for its players to join before it starts anyway, in ms.
    #[arg(long, env = "SIM_JOIN_TIMEOUT_MS", default_value_t = 5000)]
    pub join_timeout_ms: u64,
    /// When set, a player "leaves" each game this many ms after it starts and the server
    /// asks the pool for one player for that team (`POST /v1/matches/{match}/backfill`);
    /// the backfilled player joins the game with their own join token. 0: never.
    #[arg(long, env = "SIM_BACKFILL_AFTER_MS", default_value_t = 0)]
    pub backfill_after_ms: u64,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    run_until(args, shutdown_signal()).await
}

/// Runs the server until `stop` resolves (the load generator runs several in one process),
/// then leaves the pool and finishes its games.
pub async fn run_until(
    args: Args,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on --listen {}", args.listen))?;
    let address = listener.local_addr()?.to_string();
    let pool = Arc::new(PoolClient::new(args.pool.clone(), args.token.clone())?);
    if args.join_secret.is_empty() {
        anyhow::bail!("--join-secret / SIM_JOIN_SECRET is empty: give the pool's join secret");
    }
    if args
        .previous_join_secret
        .as_deref()
        .is_some_and(str::is_empty)
    {
        anyhow::bail!(
            "--previous-join-secret / SIM_PREVIOUS_JOIN_SECRET is empty: give the join secret being rotated out, or leave it out"
        );
    }
    let verifier = JoinVerifier::new(
        args.id.clone(),
        args.join_secret.as_bytes(),
        args.previous_join_secret.as_deref().map(str::as_bytes),
    );
    let games = Games::new(
        verifier,
        pool.clone(),
        Duration::from_millis(args.join_timeout_ms),
        Duration::from_millis(args.game_ms),
    )
    .with_backfill_after(
        (args.backfill_after_ms > 0).then(|| Duration::from_millis(args.backfill_after_ms)),
    );
    let join_api = axum::serve(listener, games.router());
    tokio::spawn(async move {
        if let Err(err) = join_api.await {
            tracing::error!(error = %err, "the join endpoint failed");
        }
    });
    let registration = proto::RegisterServer {
        id: proto::Id::parse(&args.id).context("--id is not a valid id")?,
        region: proto::Id::parse(&args.region).context("--region is not a valid id")?,
        address,
        capacity: args.capacity,
        labels: Default::default(),
    };
    match game_server_sdk::serve(&pool, &registration, &games, stop).await? {
        Exit::Stopped => tracing::info!("left the pool; every game finished"),
        Exit::Drained => tracing::info!("drained; every game finished"),
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
