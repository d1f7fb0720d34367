//! The game servers of each region, in Redis: registration, heartbeats, drain, and the
//! assignments a server has still to take.
//!
//! Per region (slot `{pool:<region>}`): each server's hash (address, capacity, the games
//! the pool counts on it, status), the ready servers by load, and liveness by heartbeat
//! lapse time. One global hash maps a server id to its region, so calls that name only the
//! server find its slot.

use std::sync::LazyLock;
use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, KeysInterface, SortedSetsInterface};
use fred::types::scripts::Script;
use proto::{Assignment, Id, RegisterServer, TeamMember};
use queues::MatchRecord;

static REGISTER: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("registry/pool_register.lua")));
static HEARTBEAT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("registry/pool_heartbeat.lua")));
static DRAIN: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("registry/pool_drain.lua")));

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
        let _active: i64 = REGISTER
            .evalsha_with_reload(
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
        let pool = self.keys.pool(region);
        let known: i64 = HEARTBEAT
            .evalsha_with_reload(
                &self.redis,
                vec![pool.server(server), pool.liveness()],
                vec![
                    server.to_owned(),
                    now_ms().to_string(),
                    self.heartbeat_ttl.as_millis().to_string(),
                    active_games.map(|n| n.to_string()).unwrap_or_default(),
                    players.map(|n| n.to_string()).unwrap_or_default(),
                ],
            )
            .await?;
        Ok(match known {
            1 => Beat::Alive,
            2 => Beat::Draining,
            3 => {
                self.forget_drained(server).await?;
                Beat::Left
            }
            _ => Beat::Unknown,
        })
    }

    /// Stops allocating to `server`; it leaves once its games end. It is marked drained
    /// first, so from now on a heartbeat that finds it gone (left, or reaped while
    /// draining) answers 410 rather than 404, whichever order things happen in.
    pub async fn drain(&self, region: &str, server: &str) -> Result<Drained, fred::error::Error> {
        self.mark_drained(server).await?;
        let outcome: String = DRAIN
            .evalsha_with_reload(
                &self.redis,
                scripts::pool_register(&self.keys, region, server),
                vec![server.to_owned()],
            )
            .await?;
        Ok(match outcome.as_str() {
            "left" => {
                self.forget_drained(server).await?;
                Drained::Left
            }
            "draining" => Drained::Draining,
            _ => {
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

    /// The matches allocated to `server` that it has not acknowledged yet.
    pub async fn assignments(
        &self,
        region: &str,
        server: &str,
    ) -> Result<Vec<Assignment>, fred::error::Error> {
        let pool = self.keys.pool(region);
        let ids: Vec<String> = self
            .redis
            .zrange(pool.assignments(server), 0, -1, None, false, None, false)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let json: Option<String> = self.redis.hget(pool.pool_match(&id), "record").await?;
            if let Some(assignment) = json.as_deref().and_then(assignment) {
                out.push(assignment);
            }
        }
        Ok(out)
    }
}

/// The assignment a game server is told about, from the matchmaker's record.
pub fn assignment(json: &str) -> Option<Assignment> {
    let record: MatchRecord = serde_json::from_str(json).ok()?;
    Some(Assignment {
        match_id: Id::parse(&record.match_id).ok()?,
        queue: Id::parse(&record.queue).ok()?,
        region: Id::parse(&record.region).ok()?,
        teams: teams(&record)?,
        secret_hint: None,
    })
}

/// The teams of a record as the protocol shows them.
pub fn teams(record: &MatchRecord) -> Option<proto::Teams> {
    record
        .teams
        .iter()
        .map(|team| {
            team.iter()
                .map(|t| {
                    Some(TeamMember {
                        player: Id::parse(&t.player).ok()?,
                        rating: t.rating,
                    })
                })
                .collect()
        })
        .collect()
}

pub fn now_ms() -> u64 {
    service_runtime::instances::now_ms()
}
