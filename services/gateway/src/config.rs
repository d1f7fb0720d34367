//! The gateway's config: the `[gateway]` section, plus the shared `[matchmaking]` section
//! it validates `queue.join` against and the `[parties]` limits.

use std::net::SocketAddr;

use queues::MatchmakingConfig;
use serde::Deserialize;
use service_runtime::config::CommonConfig;
use service_runtime::secret::Secret;
use service_runtime::{ConfigError, LoadedConfig};

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Where game clients connect (`GET /ws`); `0.0.0.0:8080` in a container.
    pub listen: String,
    /// The HS256 secret game clients' JWTs are signed with. Required unless guests are on.
    pub jwt_secret: Secret,
    /// The secret being rotated out: tokens signed with it are still accepted until it is
    /// removed (zero-downtime rotation, deploy/OPERATIONS.md). Empty: none.
    pub previous_jwt_secret: Secret,
    /// The `iss` every client token must carry (the identity provider's issuer). Empty:
    /// not checked.
    pub jwt_issuer: String,
    /// A value every client token's `aud` must hold (this deployment's audience). Empty:
    /// not checked.
    pub jwt_audience: String,
    /// Accept `?guest=<name>` without a token, as player `guest:<name>`. Refused at start
    /// unless `instance.environment = "development"`.
    pub allow_guests: bool,
    /// Sockets this gateway holds at most; an upgrade past it is refused with `503`.
    pub max_connections: usize,
    /// New connections per second one source address may open (a local token bucket;
    /// `429` past it), and the burst it may open at once.
    pub connects_per_ip_per_second: f64,
    pub connects_per_ip_burst: u32,
    /// Connects one player may make per minute, across every gateway (counted in Redis;
    /// `429` past it).
    pub connects_per_player_per_minute: u32,
    /// Behind a load balancer that says who the client is: the header it appends the
    /// client's address to (`x-forwarded-for`); the last address in it counts. Empty:
    /// the socket's peer address.
    pub client_ip_header: String,
    /// Every connection starts with a PROXY protocol header (v1 or v2, as an AWS NLB
    /// sends): its source is the client's address. A connection without one is closed.
    pub proxy_protocol: bool,
    /// The load balancers' CIDRs: only their PROXY headers and `client_ip_header` are
    /// believed (a connection with `proxy_protocol` from another peer is closed). Empty:
    /// any peer's.
    #[serde(deserialize_with = "service_runtime::check::string_or_list")]
    pub trusted_proxies: Vec<String>,
    /// A client's HTTP upgrade request must be complete this long after its socket opened;
    /// a slower, partial or never-sent one is closed (half-open handshakes hold nothing).
    pub handshake_timeout_ms: u64,
    /// How often clients should ping (told in `welcome`); sessions are refreshed as often.
    pub heartbeat_ms: u64,
    /// A connection that sends nothing (not even a ping) for this long is closed (4004).
    pub idle_timeout_ms: u64,
    /// A session lives this long in Redis without a refresh from its gateway: a gateway
    /// that dies leaves sessions and room memberships that lapse after this.
    pub session_ttl_ms: u64,
    /// A player's rooms are remembered this long after a disconnect, so a reconnect to any
    /// gateway rejoins them.
    pub reconnect_grace_ms: u64,
    /// Largest frame accepted from a client; a larger one closes with 1009.
    pub max_frame_bytes: usize,
    /// Read buffer per socket. tungstenite's default (128 KiB) costs far more memory per
    /// idle connection than a client's frames need.
    pub read_buffer_bytes: usize,
    /// Frames waiting to be written to one client; a client that lets it fill is
    /// disconnected (4003), never allowed to grow memory.
    pub outbound_queue: usize,
    /// Requests per second one connection may send (token bucket refill).
    pub rate_per_second: f64,
    /// Requests one connection may send in a burst (token bucket size).
    pub rate_burst: u32,
    /// `room.send` + `whisper` per player per minute, across gateways and reconnects.
    pub chat_per_minute: u32,
    /// Refused requests that were the client's fault (rate limited, malformed, unknown,
    /// too large) one player may earn in a minute, across connections and gateways: the
    /// one that reaches it closes the connection with 1008 and starts a cool-down.
    pub abuse_strikes: u32,
    /// After `abuse_strikes`, the player's connects are refused (`429`) this long.
    pub abuse_cooldown_ms: u64,
    /// Rooms one connection may be in at once.
    pub max_rooms: usize,
    /// The longest a profile or game data document is served from this process's memory
    /// without asking Redis (changes announced by the cache-warmer drop it sooner).
    pub cache_ttl_ms: u64,
    /// On SIGTERM: how long clients get to reconnect elsewhere before the rest are closed
    /// with 4002. Keep it below `shutdown.drain_deadline_ms`.
    pub drain_grace_ms: u64,
    /// `reconnect.after_ms` is spread over 0..this, so a draining gateway's clients do not
    /// all reconnect in the same instant.
    pub reconnect_spread_ms: u64,
    /// Where the server API for the studio's backend listens (PROTOCOL.md section 4): an
    /// address on a private network, never the public one. Empty: no server API.
    pub api_listen: String,
    /// The bearer token every server API call carries (required with `api_listen`).
    pub api_token: Secret,
    /// The API token being rotated out, still accepted until removed. Empty: none.
    pub previous_api_token: Secret,
    /// Largest server API request body; past it `413`.
    pub api_max_body_bytes: usize,
    /// Kinds of rooms, by the start of their names: which keep a history and which push
    /// presence ([`crate::room_kinds`]). Empty: every room is a plain one.
    #[serde(default)]
    pub rooms: std::collections::BTreeMap<String, crate::room_kinds::RoomKindConfig>,
}

/// Everything the gateway reads from the config.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewaySection,
    /// `gateway.rooms`, checked.
    pub room_kinds: crate::room_kinds::RoomKinds,
    pub matchmaking: MatchmakingConfig,
    pub parties: parties::PartyConfig,
}

impl Config {
    /// Reads `[gateway]`, `[matchmaking]` and `[parties]` and checks them; errors name
    /// the key.
    pub fn load(config: &LoadedConfig) -> Result<Self, ConfigError> {
        let gateway: GatewaySection = config.section("gateway")?;
        gateway.validate(&config.common)?;
        let room_kinds = crate::room_kinds::RoomKinds::from_config(&gateway.rooms)?;
        let matchmaking = MatchmakingConfig::load(config)?;
        let parties = parties::PartyConfig::load(config)?;
        Ok(Self {
            gateway,
            room_kinds,
            matchmaking,
            parties,
        })
    }
}

impl GatewaySection {
    /// The server API's keys: an address, and a token of its own when it listens.
    fn validate_api(&self) -> Result<(), ConfigError> {
        if self.api_listen.is_empty() {
            return Ok(());
        }
        self.api_listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "gateway.api_listen",
                format!(
                    "{:?} is not an address like 10.0.1.5:8180 (or leave it empty for no server API)",
                    self.api_listen
                ),
            )
        })?;
        if self.api_token.len() < 16 {
            return Err(ConfigError::new(
                "gateway.api_token",
                "is required with gateway.api_listen: at least 16 characters (32 random bytes is better)",
            ));
        }
        if !self.previous_api_token.is_empty() && self.previous_api_token.len() < 16 {
            return Err(ConfigError::new(
                "gateway.previous_api_token",
                "is too short: use at least 16 characters",
            ));
        }
        if self.api_token == self.jwt_secret || self.api_token == self.previous_api_token {
            return Err(ConfigError::new(
                "gateway.api_token",
                "must differ from gateway.jwt_secret and gateway.previous_api_token",
            ));
        }
        service_runtime::config::positive(
            "gateway.api_max_body_bytes",
            self.api_max_body_bytes as u64,
        )
    }

    fn validate(&self, common: &CommonConfig) -> Result<(), ConfigError> {
        let drain_deadline_ms = common.shutdown.drain_deadline_ms;
        self.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "gateway.listen",
                format!("{:?} is not an address like 0.0.0.0:8080", self.listen),
            )
        })?;
        if self.allow_guests && !common.instance.is_development() {
            return Err(ConfigError::new(
                "gateway.allow_guests",
                format!(
                    "is only allowed where instance.environment = \"development\" (this one is {:?}): \
                     guests sign in as anyone they name, so never on a deployment players reach",
                    common.instance.environment
                ),
            ));
        }
        if self.jwt_secret.is_empty() && !self.allow_guests {
            return Err(ConfigError::new(
                "gateway.jwt_secret",
                "is required: set RALLYPOINT_GATEWAY__JWT_SECRET to the HS256 secret game clients' tokens are signed with \
                 (or, for local development only, gateway.allow_guests = true)",
            ));
        }
        for (key, secret) in [
            ("gateway.jwt_secret", &self.jwt_secret),
            ("gateway.previous_jwt_secret", &self.previous_jwt_secret),
        ] {
            if !secret.is_empty() && secret.len() < 16 {
                return Err(ConfigError::new(
                    key,
                    "is too short: use at least 16 characters (32 random bytes is better)",
                ));
            }
        }
        if !self.previous_jwt_secret.is_empty() && self.jwt_secret.is_empty() {
            return Err(ConfigError::new(
                "gateway.previous_jwt_secret",
                "is set but gateway.jwt_secret is not: the new secret goes in jwt_secret",
            ));
        }
        if !self.previous_jwt_secret.is_empty() && self.previous_jwt_secret == self.jwt_secret {
            return Err(ConfigError::new(
                "gateway.previous_jwt_secret",
                "is the same as gateway.jwt_secret: set it to the secret being rotated out, or leave it empty",
            ));
        }
        self.validate_api()?;
        for (key, value) in [
            ("gateway.heartbeat_ms", self.heartbeat_ms),
            ("gateway.handshake_timeout_ms", self.handshake_timeout_ms),
            ("gateway.max_connections", self.max_connections as u64),
            (
                "gateway.connects_per_ip_burst",
                u64::from(self.connects_per_ip_burst),
            ),
            ("gateway.idle_timeout_ms", self.idle_timeout_ms),
            ("gateway.session_ttl_ms", self.session_ttl_ms),
            ("gateway.reconnect_grace_ms", self.reconnect_grace_ms),
            ("gateway.drain_grace_ms", self.drain_grace_ms),
        ] {
            service_runtime::config::positive(key, value)?;
        }
        if !(self.connects_per_ip_per_second.is_finite() && self.connects_per_ip_per_second > 0.0) {
            return Err(ConfigError::new(
                "gateway.connects_per_ip_per_second",
                "must be a positive number",
            ));
        }
        service_runtime::proxy_protocol::ProxyPolicy::parse_trusted(&self.trusted_proxies)
            .map_err(|e| ConfigError::new("gateway.trusted_proxies", e))?;
        if !self.client_ip_header.is_empty()
            && axum::http::HeaderName::from_bytes(self.client_ip_header.as_bytes()).is_err()
        {
            return Err(ConfigError::new(
                "gateway.client_ip_header",
                format!("{:?} is not a header name", self.client_ip_header),
            ));
        }
        if self.idle_timeout_ms <= self.heartbeat_ms {
            return Err(ConfigError::new(
                "gateway.idle_timeout_ms",
                "must be longer than gateway.heartbeat_ms (clients ping every heartbeat_ms)",
            ));
        }
        if self.session_ttl_ms < 2 * self.heartbeat_ms {
            return Err(ConfigError::new(
                "gateway.session_ttl_ms",
                "must be at least twice gateway.heartbeat_ms, so one late refresh does not end a session",
            ));
        }
        if !(512..=16 * 1024 * 1024).contains(&self.max_frame_bytes) {
            return Err(ConfigError::new(
                "gateway.max_frame_bytes",
                "must be between 512 and 16777216",
            ));
        }
        if !(256..=1024 * 1024).contains(&self.read_buffer_bytes) {
            return Err(ConfigError::new(
                "gateway.read_buffer_bytes",
                "must be between 256 and 1048576",
            ));
        }
        if self.outbound_queue < 8 {
            return Err(ConfigError::new(
                "gateway.outbound_queue",
                "must be at least 8",
            ));
        }
        if !(self.rate_per_second.is_finite() && self.rate_per_second > 0.0) {
            return Err(ConfigError::new(
                "gateway.rate_per_second",
                "must be a number greater than 0",
            ));
        }
        for (key, value) in [
            ("gateway.rate_burst", self.rate_burst),
            ("gateway.chat_per_minute", self.chat_per_minute),
            ("gateway.abuse_strikes", self.abuse_strikes),
            (
                "gateway.connects_per_player_per_minute",
                self.connects_per_player_per_minute,
            ),
        ] {
            service_runtime::config::positive(key, u64::from(value))?;
        }
        service_runtime::config::positive("gateway.cache_ttl_ms", self.cache_ttl_ms)?;
        service_runtime::config::positive("gateway.abuse_cooldown_ms", self.abuse_cooldown_ms)?;
        if self.max_rooms == 0 {
            return Err(ConfigError::new(
                "gateway.max_rooms",
                "must be greater than 0",
            ));
        }
        if self.drain_grace_ms >= drain_deadline_ms {
            return Err(ConfigError::new(
                "gateway.drain_grace_ms",
                "must be shorter than shutdown.drain_deadline_ms (clients must be closed before the deadline)",
            ));
        }
        Ok(())
    }
}
