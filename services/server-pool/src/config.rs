//! The server pool's config: the `[pool]` section, and the regions of the shared
//! `[matchmaking]` section (a game server may register only in a region a queue runs in).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use queues::MatchmakingConfig;
use serde::Deserialize;
use service_runtime::secret::Secret;
use service_runtime::{ConfigError, LoadedConfig};

/// `[pool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// Where game servers call (`/v1/servers`, `/v1/matches`); `0.0.0.0:8090` in containers.
    pub listen: String,
    /// The fleet's registration token: `POST /v1/servers` only. Every later call of a
    /// server carries the `server_token` its registration answered. Required.
    pub token: Secret,
    /// The registration token being rotated out: still accepted until it is removed.
    /// Empty: none.
    pub previous_token: Secret,
    /// The key of the players' join tokens (PROTOCOL.md "Join tokens"), which game servers
    /// check them with; no caller authenticates with it. Required, at least 32 characters.
    pub join_secret: Secret,
    /// The longest a game may run: a started game older than this is ended as
    /// `game_timeout` at its server's next heartbeat, its players freed and its slot given
    /// back. Join tokens expire this long after the allocation. 0: no limit (join tokens
    /// then last a day).
    pub max_game_ms: u64,
    /// Replicas that must have a result before it is answered as recorded, and an
    /// allocation before its `match.found` goes out (Redis `WAIT`). 0: answer once the
    /// master has it (a cluster without replicas).
    pub replicas_to_ack: u32,
    /// The longest to wait for them: past it a result is answered 503 (the game server
    /// retries; results are idempotent) and allocations are announced by a later round.
    pub replica_ack_timeout_ms: u64,
    /// Results are recorded in groups (`result_groups.rs`): a posted result waits at most
    /// this long for others to share its writes and its `WAIT`. 0: only the results
    /// posted while the previous group was being written share them.
    pub result_group_ms: u64,
    /// A group is written at once when this many results have come.
    pub result_group_max: usize,
    /// How often game servers should heartbeat (told at registration).
    pub heartbeat_interval_ms: u64,
    /// A server that has not sent a heartbeat for this long gets no new games.
    pub heartbeat_ttl_ms: u64,
    /// How often the allocator looks at each region it holds.
    pub tick_ms: u64,
    /// Allocator lease per region: a dead instance's regions are taken over within this.
    pub lease_ms: u64,
    /// An allocated match not announced to its players after this is announced again.
    pub announce_retry_ms: u64,
    /// A match that found no server with room for this long is cancelled and its players
    /// requeued with their original wait.
    pub allocate_timeout_ms: u64,
    /// How often dead servers are looked for.
    pub reap_interval_ms: u64,
    /// A match its server has not acknowledged this long after the assignment is
    /// cancelled and its players requeued (a live server that lost or ignored it).
    pub ack_timeout_ms: u64,
    /// The longest `wait_ms` a long poll for assignments may ask for.
    pub long_poll_max_ms: u64,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

/// Everything the server pool reads from the config.
#[derive(Debug, Clone)]
pub struct Config {
    pub pool: PoolSection,
    /// Every region a queue runs in.
    pub regions: BTreeSet<String>,
}

impl Config {
    pub fn load(config: &LoadedConfig) -> Result<Self, ConfigError> {
        let pool: PoolSection = config.section("pool")?;
        pool.validate()?;
        let matchmaking = MatchmakingConfig::load(config)?;
        let regions = matchmaking.regions();
        Ok(Self { pool, regions })
    }
}

impl PoolSection {
    /// How long a join token is valid after its match was allocated.
    pub fn join_token_ttl(&self) -> std::time::Duration {
        const NO_LIMIT: u64 = 24 * 3600 * 1000;
        std::time::Duration::from_millis(match self.max_game_ms {
            0 => NO_LIMIT,
            max => max,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use service_runtime::config::positive;
        self.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "pool.listen",
                format!("{:?} is not an address like 0.0.0.0:8090", self.listen),
            )
        })?;
        if self.token.len() < 16 {
            return Err(ConfigError::new(
                "pool.token",
                "is required, at least 16 characters: set RALLYPOINT_POOL__TOKEN to the game servers' shared secret",
            ));
        }
        if !self.previous_token.is_empty() && self.previous_token.len() < 16 {
            return Err(ConfigError::new(
                "pool.previous_token",
                "is too short: it is the token being rotated out, at least 16 characters (or empty)",
            ));
        }
        if self.join_secret.len() < 32 {
            return Err(ConfigError::new(
                "pool.join_secret",
                "is required, at least 32 characters: set RALLYPOINT_POOL__JOIN_SECRET to the key game servers check join tokens with",
            ));
        }
        if self.join_secret == self.token || self.join_secret == self.previous_token {
            return Err(ConfigError::new(
                "pool.join_secret",
                "must differ from the registration token: a leaked token must not let anyone forge join tokens",
            ));
        }
        positive("pool.replica_ack_timeout_ms", self.replica_ack_timeout_ms)?;
        if self.max_game_ms != 0 && self.max_game_ms <= self.heartbeat_ttl_ms {
            return Err(ConfigError::new(
                "pool.max_game_ms",
                "must be longer than pool.heartbeat_ttl_ms (it is checked at heartbeats), or 0 for no limit",
            ));
        }
        if self.previous_token == self.token {
            return Err(ConfigError::new(
                "pool.previous_token",
                "is the same as pool.token: set it to the token being rotated out, or leave it empty",
            ));
        }
        if self.result_group_ms > 1000 {
            return Err(ConfigError::new(
                "pool.result_group_ms",
                "must be at most 1000: a result waits this long for its group before it is written",
            ));
        }
        if !(1..=1024).contains(&self.result_group_max) {
            return Err(ConfigError::new(
                "pool.result_group_max",
                "must be between 1 and 1024",
            ));
        }
        positive("pool.heartbeat_interval_ms", self.heartbeat_interval_ms)?;
        positive("pool.tick_ms", self.tick_ms)?;
        positive("pool.announce_retry_ms", self.announce_retry_ms)?;
        positive("pool.allocate_timeout_ms", self.allocate_timeout_ms)?;
        positive("pool.reap_interval_ms", self.reap_interval_ms)?;
        positive("pool.ack_timeout_ms", self.ack_timeout_ms)?;
        if self.heartbeat_ttl_ms <= self.heartbeat_interval_ms {
            return Err(ConfigError::new(
                "pool.heartbeat_ttl_ms",
                "must be longer than pool.heartbeat_interval_ms",
            ));
        }
        if self.lease_ms < 3 * self.tick_ms {
            return Err(ConfigError::new(
                "pool.lease_ms",
                "must be at least three times pool.tick_ms",
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.max_body_bytes) {
            return Err(ConfigError::new(
                "pool.max_body_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        Ok(())
    }
}
