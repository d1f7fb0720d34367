//! The game servers of each region, in Redis: registration, heartbeats, drain. (The
//! matches on a server, and the assignments it has still to take, are the `matches`
//! crate's.)
//!
//! Per region (slot `{pool:<region>}`): each server's hash (address, capacity, the games
//! the pool counts on it, status), the ready servers by load, and liveness by heartbeat
//! lapse time. One global hash maps a server id to its region, so calls that name only the
//! server find its slot.

use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, KeysInterface};
use proto::RegisterServer;
use service_runtime::clock::now_ms;
use service_runtime::script::LuaScript;

static REGISTER: LuaScript<i64> = LuaScript::new(include_str!("registry/pool_register.lua"));
static HEARTBEAT: LuaScript<HeartbeatReply> =
    LuaScript::new(include_str!("registry/pool_heartbeat.lua"));
static DRAIN: LuaScript<DrainReply> = LuaScript::new(include_str!("registry/pool_drain.lua"));

service_runtime::script_reply! {
    /// What `pool_heartbeat.lua` answered.
    enum HeartbeatReply { Unknown = "0", Alive = "1", Draining = "2", Left = "3" }
}

service_runtime::script_reply! {
    /// What `pool_drain.lua` answered.
    enum DrainReply { Left = "left", Draining = "draining", Unknown = "unknown" }
}

/// What registering found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Registered,
    /// The id is registered in another region: it must leave there first.
    OtherRegion(String),
}

/// What draining did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The server ran no games and left at once.
    Left,
    /// It gets no new games and leaves when its games end.
    Draining,
    Unknown,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Alive,
    /// Alive, and draining: no new games; it leaves when its games end.
    Draining,
    /// It was draining and has no game left: it has left the pool now.
    Left,
    /// Unknown or found dead: it must register again.
    Unknown,
}

/// The registry of one deployment.
#[derive(Debug, Clone)]
pub struct Registry {
    pub keys: Keys,
    pub redis: Client,
    pub heartbeat_ttl: Duration,
}

impl Registry {
    /// The region `server` is registered in.
    pub async fn region_of(&self, server: &str) -> Result<Option<String>, fred::error::Error> {
        self.redis.hget(self.keys.server_regions(), server).await
    }

    pub async fn register(
        &self,
        server: &RegisterServer,
    ) -> Result<Registration, fred::error::Error> {
        let id = server.id.as_str();
        let region = server.region.as_str();
        match self.region_of(id).await? {
            Some(other) if other != region => return Ok(Registration::OtherRegion(other)),
            Some(_) => {}
            None => {
                let _: i64 = self
                    .redis
                    .hset(self.keys.server_regions(), (id, region))
                    .await?;
            }
        }
        // Registering is how a drained server rejoins: it is no longer "drained".
        let _: i64 = self.redis.del(self.keys.server_drained(id)).await?;
        let labels = serde_json::to_string(&server.labels).unwrap_or_else(|_| "{}".to_owned());
        let _active = REGISTER
            .run(
                &self.redis,
                scripts::pool_register(&self.keys, region, id),
                vec![
                    id.to_owned(),
                    server.address.clone(),
                    server.capacity.to_string(),
                    labels,
                    now_ms().to_string(),
                    self.heartbeat_ttl.as_millis().to_string(),
                ],
            )
            .await?;
        Ok(Registration::Registered)
    }

    /// Records a heartbeat.
    pub async fn heartbeat(
        &self,
        region: &str,
        server: &str,
        active_games: Option<u32>,
        players: Option<u32>,
    ) -> Result<Beat, fred::error::Error> {
        let beat = HEARTBEAT
            .run(
                &self.redis,
                scripts::pool_heartbeat(&self.keys, region, server),
                vec![
                    server.to_owned(),
                    now_ms().to_string(),
                    self.heartbeat_ttl.as_millis().to_string(),
                    active_games.map(|n| n.to_string()).unwrap_or_default(),
                    players.map(|n| n.to_string()).unwrap_or_default(),
                ],
            )
            .await?;
        Ok(match beat {
            HeartbeatReply::Alive => Beat::Alive,
            HeartbeatReply::Draining => Beat::Draining,
            HeartbeatReply::Left => {
                self.forget_drained(server).await?;
                Beat::Left
            }
            HeartbeatReply::Unknown => Beat::Unknown,
        })
    }

    /// Stops allocating to `server`; it leaves once its games end. It is marked drained
    /// first, so from now on a heartbeat that finds it gone (left, or reaped while
    /// draining) answers 410 rather than 404, whichever order things happen in.
    pub async fn drain(&self, region: &str, server: &str) -> Result<Drained, fred::error::Error> {
        self.mark_drained(server).await?;
        let outcome = DRAIN
            .run(
                &self.redis,
                scripts::pool_register(&self.keys, region, server),
                vec![server.to_owned()],
            )
            .await?;
        Ok(match outcome {
            DrainReply::Left => {
                self.forget_drained(server).await?;
                Drained::Left
            }
            DrainReply::Draining => Drained::Draining,
            DrainReply::Unknown => {
                let _: i64 = self.redis.del(self.keys.server_drained(server)).await?;
                Drained::Unknown
            }
        })
    }

    /// Drops a server from the id -> region map (a dead server the reaper removed: its
    /// next heartbeat gets 404, and it registers again).
    pub async fn forget(&self, server: &str) -> Result<(), fred::error::Error> {
        let _: i64 = self.redis.hdel(self.keys.server_regions(), server).await?;
        Ok(())
    }

    /// Drops a server that left by a drain from the id -> region map, remembering for
    /// [`core_keys::ttl::DRAINED_SERVER`] from now that it was drained.
    pub async fn forget_drained(&self, server: &str) -> Result<(), fred::error::Error> {
        self.mark_drained(server).await?;
        self.forget(server).await
    }

    /// Remembers that `server` is drained (its heartbeats, once it is gone, get 410).
    async fn mark_drained(&self, server: &str) -> Result<(), fred::error::Error> {
        let ttl = core_keys::ttl::DRAINED_SERVER.as_millis() as i64;
        self.redis
            .set(
                self.keys.server_drained(server),
                now_ms(),
                Some(fred::types::Expiration::PX(ttl)),
                None,
                false,
            )
            .await
    }

    /// Whether `server` left by a drain within [`core_keys::ttl::DRAINED_SERVER`].
    pub async fn was_drained(&self, server: &str) -> Result<bool, fred::error::Error> {
        let drained: i64 = self.redis.exists(self.keys.server_drained(server)).await?;
        Ok(drained > 0)
    }
}
