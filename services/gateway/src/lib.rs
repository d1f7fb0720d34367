//! The Rallypoint gateway: the WebSocket endpoint for game clients (PROTOCOL.md section 1).
//!
//! A client connects to any instance; its session, inbox, rooms and ticket live in Redis,
//! so every push, room message and whisper reaches it wherever its socket is, and a
//! reconnect to another instance carries on where it was. Instances share nothing else.
//!
//! # Layout
//! - [`config`]: `[gateway]` (listener, secrets, limits, timings), `[matchmaking]` and
//!   `[parties]`.
//! - [`http`]: `GET /ws`: credentials, encoding and readiness checked before the upgrade.
//! - [`auth`]: JWT HS256 and guest access.
//! - [`connection`]: one socket's life: open, requests, inbox, limits, cleanup.
//! - [`outbound`]: the bounded queue and writer task of each socket; encode-once frames.
//! - [`session`]: the player's one live session in Redis, with replacement.
//! - [`rooms`]: room membership in Redis and the reference-counted room fan-out.
//! - [`party_queue`]: where a party meets the queue (queued whole, not changed while
//!   queued, out of the queue when a member is dropped); parties themselves are
//!   `crates/parties`.
//! - [`chat`]: the per-player chat limit, kept in Redis.
//! - [`hub`]: the connections this instance holds.
//! - [`heartbeat`]: the periodic refresh of sessions and room memberships.
//! - [`catch_up`]: after a pub/sub gap, players' live matches told again.
//! - [`drain`]: SIGTERM: reconnect hints, grace, close 4002, cleanup.
//! - [`server_api`]: HTTP for the studio's backend on a listener of its own: publish,
//!   send, broadcast, disconnect, presence, room members.
//! - [`stats`]: `/v1/stats` on the ops port: this instance's connections and rooms.
//! - [`state`]: what all of these share.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod admission;
pub mod auth;
pub mod blocks;
pub mod catch_up;
pub mod chat;
pub mod config;
pub mod connection;
pub mod drain;
pub mod guard;
pub mod heartbeat;
pub mod http;
pub mod hub;
pub mod outbound;
pub mod party_queue;
pub mod room_history;
pub mod room_kinds;
pub mod rooms;
pub mod server_api;
pub mod session;
pub mod state;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use proto::GatewayId;
use service_runtime::http_server::ServeOptions;
use service_runtime::{ConfigError, LoadedConfig, Service, ServiceContext};
use tokio::net::TcpListener;

pub use config::Config;
use state::Shared;

/// The gateway service.
#[derive(Debug)]
pub struct Gateway {
    listener: TcpListener,
    addr: SocketAddr,
    /// The server API's listener, when `gateway.api_listen` is set.
    api: Option<(TcpListener, SocketAddr)>,
    shared: Arc<Shared>,
}

impl Service for Gateway {
    const NAME: &'static str = "gateway";
    const DEFAULTS: &'static str = concat!(
        queues::default_toml!(),
        parties::default_toml!(),
        r#"
[ops]
listen = "127.0.0.1:9100"

[gateway]
listen = "127.0.0.1:8080"
jwt_secret = ""
previous_jwt_secret = ""
jwt_issuer = ""
jwt_audience = ""
allow_guests = false
handshake_timeout_ms = 5000
max_connections = 20000
connects_per_ip_per_second = 20.0
connects_per_ip_burst = 100
connects_per_player_per_minute = 30
client_ip_header = ""
proxy_protocol = false
trusted_proxies = []
heartbeat_ms = 10000
idle_timeout_ms = 30000
session_ttl_ms = 30000
reconnect_grace_ms = 30000
max_frame_bytes = 65536
read_buffer_bytes = 512
outbound_queue = 256
rate_per_second = 20.0
rate_burst = 40
chat_per_minute = 30
cache_ttl_ms = 5000
abuse_strikes = 10
abuse_cooldown_ms = 60000
max_rooms = 32
drain_grace_ms = 3000
reconnect_spread_ms = 2000
api_listen = ""
api_token = ""
previous_api_token = ""
api_max_body_bytes = 65536
"#
    );
    type Config = Config;

    fn load_config(config: &LoadedConfig) -> Result<Config, ConfigError> {
        Config::load(config)
    }

    async fn build(ctx: &ServiceContext, config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.gateway.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on gateway.listen = {}",
                    config.gateway.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let api = if config.gateway.api_listen.is_empty() {
            None
        } else {
            let api = TcpListener::bind(&config.gateway.api_listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on gateway.api_listen = {}",
                        config.gateway.api_listen
                    )
                })?;
            let api_addr = api.local_addr()?;
            Some((api, api_addr))
        };
        let gateway_id = GatewayId::parse(&ctx.instance_id)
            .with_context(|| format!("instance id {:?} is not a valid id", ctx.instance_id))?;
        let shared = Arc::new(Shared::new(config, gateway_id, ctx));
        Ok(Self {
            listener,
            addr,
            api,
            shared,
        })
    }

    fn endpoints(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut endpoints = vec![("ws", self.addr)];
        if let Some((_, api)) = &self.api {
            endpoints.push(("api", *api));
        }
        endpoints
    }

    fn ops_routes(&self) -> axum::Router {
        stats::routes(self.shared.clone())
    }

    fn stats_source(&self) -> Option<service_runtime::instances::StatsSource> {
        Some(stats::source(self.shared.clone()))
    }

    async fn run(self, ctx: ServiceContext) -> anyhow::Result<()> {
        let Self {
            listener,
            api,
            shared,
            ..
        } = self;
        // Server API broadcasts reach this gateway's sockets through this subscription.
        let _broadcasts = match server_api::follow_broadcasts(&shared).await {
            Ok(subscription) => Some(subscription),
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow server API broadcasts; this gateway's players miss them");
                None
            }
        };
        let api_server = api.map(|(api, addr)| {
            tracing::info!(%addr, "server API listening");
            let stop = ctx.shutdown.clone();
            let router = server_api::router(shared.clone());
            tokio::spawn(async move {
                let served = axum::serve(api, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(err) = served {
                    tracing::error!(error = %err, "the server API listener failed");
                }
            })
        });
        // Changes the cache-warmer announces evict local copies; without this they expire
        // within the reader's TTL.
        let _cache_invalidations = match shared
            .cache
            .follow_invalidations(&shared.ctx.subscriptions)
            .await
        {
            Ok(subscription) => Some(subscription),
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow cache invalidations; cached profiles and data expire by TTL only");
                None
            }
        };
        shared.cache.spawn_stats_flush(ctx.shutdown.child_token());
        let options = ServeOptions {
            // A handshake not complete by then is closed (slow or half-open sockets).
            header_read_timeout: Duration::from_millis(shared.config.handshake_timeout_ms),
            // No Nagle delay: pushes are small frames written as they happen, and with
            // Nagle a second frame waits for the client's delayed ACK of the first
            // (measured: a 40 ms step in fan-out delivery latency).
            nodelay: true,
            proxy: shared.admission.proxy_policy().map(std::sync::Arc::new),
        };
        // The listener stays open through the drain, so a client that knocks then is told
        // `503` (connect elsewhere) rather than refused at the TCP level.
        let listening = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(service_runtime::http_server::serve(
            listener,
            http::router(shared.clone()),
            options,
            listening.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeat::run(shared.clone(), ctx.shutdown.clone()));
        tokio::spawn(catch_up::run(shared.clone(), ctx.shutdown.clone()));
        ctx.shutdown.cancelled().await;
        drain::run(&shared).await;
        listening.cancel();
        if let Err(err) = heartbeat.await {
            tracing::warn!(error = %err, "heartbeat task failed");
        }
        if let Some(api_server) = api_server
            && let Err(err) = api_server.await
        {
            tracing::warn!(error = %err, "the server API task failed");
        }
        match server.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(anyhow::anyhow!("the client listener failed: {err}")),
            Err(err) => Err(anyhow::anyhow!("the client listener task failed: {err}")),
        }
    }
}
