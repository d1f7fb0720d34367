//! What every connection of one gateway instance shares: config, Redis, the stores, the
//! local connection table and the task tracker the drain waits on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proto::GatewayId;
use queues::{MatchmakingConfig, Tickets};
use service_runtime::ServiceContext;
use tokio_util::task::TaskTracker;

use crate::auth::{Authenticator, TokenRules};
use crate::chat::ChatLimit;
use crate::config::{Config, GatewaySection};
use crate::hub::Hub;
use crate::rooms::Rooms;
use crate::session::Sessions;

/// The state of one gateway instance.
#[derive(Debug)]
pub struct Shared {
    pub config: GatewaySection,
    pub matchmaking: MatchmakingConfig,
    pub gateway_id: GatewayId,
    /// The runtime's handles: keys, Redis, the publish path, subscriptions, readiness.
    pub ctx: ServiceContext,
    pub auth: Authenticator,
    /// The connection cap and the connect rate per source address.
    pub admission: crate::admission::Admission,
    pub guard: crate::guard::Guard,
    pub sessions: Sessions,
    pub rooms: Rooms,
    /// The rooms that keep history: publishing to them and reading it.
    pub history: crate::room_history::RoomHistory,
    pub chat: ChatLimit,
    pub tickets: Tickets,
    /// The `match.found` a reconnecting player is owed (`crates/matches`).
    pub matches: matches::Matches,
    /// Parties: membership, invites, leaders (`crates/parties`).
    pub parties: parties::Parties,
    pub hub: Hub,
    /// Profiles and game data through the local cache (`profile.get`, `data.get`).
    pub cache: cache_reader::CacheReader,
    /// Every connection task, so the drain can wait for their cleanup.
    pub tracker: TaskTracker,
    next_local_id: AtomicU64,
}

impl Shared {
    /// The state of a gateway instance with `config`, on the runtime's Redis handles.
    pub fn new(config: Config, gateway_id: GatewayId, ctx: &ServiceContext) -> Self {
        let Config {
            gateway: config,
            room_kinds,
            matchmaking,
            parties,
        } = config;
        let keys = ctx.keys.clone();
        let redis = ctx.redis.clone();
        let session_ttl = Duration::from_millis(config.session_ttl_ms);
        Self {
            admission: crate::admission::Admission::new(&config),
            guard: crate::guard::Guard::new(
                keys.clone(),
                redis.clone(),
                config.connects_per_player_per_minute,
                config.abuse_strikes,
                Duration::from_millis(config.abuse_cooldown_ms),
            ),
            auth: Authenticator::new(
                &TokenRules {
                    secret: &config.jwt_secret,
                    previous_secret: &config.previous_jwt_secret,
                    issuer: &config.jwt_issuer,
                    audience: &config.jwt_audience,
                },
                config.allow_guests,
            ),
            sessions: Sessions::new(
                keys.clone(),
                redis.clone(),
                gateway_id.to_string(),
                session_ttl,
                Duration::from_millis(config.reconnect_grace_ms),
            ),
            rooms: Rooms::new(
                keys.clone(),
                redis.clone(),
                ctx.subscriptions.clone(),
                ctx.publisher.clone(),
                room_kinds.clone(),
                session_ttl,
            ),
            history: crate::room_history::RoomHistory::new(
                keys.clone(),
                redis.clone(),
                ctx.publisher.clone(),
                room_kinds,
            ),
            chat: ChatLimit::new(config.chat_per_minute),
            tickets: Tickets::new(
                keys.clone(),
                redis.clone(),
                queues::JoinPolicy::from_config(&matchmaking),
            ),
            matches: matches::Matches::from_context(ctx),
            parties: parties::Parties::new(
                keys.clone(),
                redis.clone(),
                ctx.publisher.clone(),
                parties,
                parties::Lapse {
                    connected: session_ttl + Duration::from_millis(config.reconnect_grace_ms),
                    away: Duration::from_millis(config.reconnect_grace_ms),
                },
            ),
            hub: Hub::default(),
            cache: cache_reader::CacheReader::new(
                keys.clone(),
                redis.clone(),
                cache_reader::ReaderConfig {
                    ttl: Duration::from_millis(config.cache_ttl_ms),
                    warm_wait: Duration::from_millis(matchmaking.profile_wait_ms),
                    ..cache_reader::ReaderConfig::default()
                },
            ),
            tracker: TaskTracker::new(),
            next_local_id: AtomicU64::new(1),
            config,
            matchmaking,
            gateway_id,
            ctx: ctx.clone(),
        }
    }

    /// A number for a new local connection, unique in this process.
    pub fn next_local_id(&self) -> u64 {
        self.next_local_id.fetch_add(1, Ordering::Relaxed)
    }
}
