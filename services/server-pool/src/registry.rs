//! The game servers of each region, in Redis: registration, heartbeats, drain. (The
//! matches on a server, and the assignments it has still to take, are the `matches`
//! crate's.)
//!
//! Per region (slot `{pool:<region>}`): each server's hash (address, capacity, the games
//! the pool counts on it, status, its incarnation and the hash of its token), the ready
//! servers by load, and liveness by heartbeat lapse time, kept by Redis's clock. One
//! global hash maps a server id to its region, so an id registers in one region only.
//!
//! An id belongs to one live incarnation at a time: registering an id whose heartbeat has
//! not lapsed is refused (`id_in_use`); after it lapsed, the new incarnation takes the id
//! and the games of the one before are ended at once (`server_lost`).

use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, KeysInterface, SetsInterface};
use fred::types::{FromValue, Value};
use proto::RegisterServer;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

static REGISTER: LuaScript<RegisterReply> =
    LuaScript::new(include_str!("registry/pool_register.lua"));
static HEARTBEAT: LuaScript<HeartbeatReply> =
    LuaScript::new(include_str!("registry/pool_heartbeat.lua"));
static DRAIN: LuaScript<DrainReply> = LuaScript::new(include_str!("registry/pool_drain.lua"));

service_runtime::script_reply! {
    /// What `pool_drain.lua` answered.
    enum DrainReply { Left = "left", Draining = "draining", Unknown = "unknown", Unauthorized = "unauthorized" }
}

/// What `pool_register.lua` answered.
enum RegisterReply {
    Registered { incarnation: u64, orphaned: u64 },
    InUse { incarnation: u64, lapses_in_ms: u64 },
}

impl FromValue for RegisterReply {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        let number = |i: usize| rest.get(i).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        match tag.as_str() {
            "registered" => Ok(RegisterReply::Registered {
                incarnation: number(0),
                orphaned: number(1),
            }),
            "in_use" => Ok(RegisterReply::InUse {
                incarnation: number(0),
                lapses_in_ms: number(1),
            }),
            other => Err(unexpected_reply("pool_register.lua", other)),
        }
    }
}

/// What `pool_heartbeat.lua` answered: the server's standing, and the games it no longer
/// runs (to end now).
struct HeartbeatReply(Beat, Vec<String>);

impl FromValue for HeartbeatReply {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, orphaned) = tagged(value)?;
        let beat = match tag.as_str() {
            "alive" => Beat::Alive,
            "draining" => Beat::Draining,
            "left" => Beat::Left,
            "unknown" => Beat::Unknown,
            "unauthorized" => Beat::Unauthorized,
            other => return Err(unexpected_reply("pool_heartbeat.lua", other)),
        };
        Ok(HeartbeatReply(beat, orphaned))
    }
}

/// What registering found.
#[derive(Debug)]
pub enum Registration {
    /// The id is this new incarnation's; `orphaned` games of the one before are to end.
    Registered {
        credential: crate::credentials::Issued,
        incarnation: u64,
        orphaned: u64,
    },
    /// The id is registered in another region: it must leave there first.
    OtherRegion(String),
    /// A live incarnation holds the id (its heartbeat lapses in `lapses_in_ms`).
    InUse { incarnation: u64, lapses_in_ms: u64 },
}

/// Whether a token is the current credential of the server it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authenticated {
    Yes,
    /// Not this incarnation's token (an old incarnation's, or forged).
    No,
    /// The pool does not know the server (reaped, left, never registered).
    Unknown,
}

/// What draining did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The server ran no games and left at once.
    Left,
    /// It gets no new games and leaves when its games end.
    Draining,
    Unknown,
    /// The token sent is not this incarnation's.
    Unauthorized,
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
    /// The token is not this incarnation's.
    Unauthorized,
}

/// A heartbeat as the registry records it.
#[derive(Debug, Clone, Copy)]
pub struct BeatReport<'a> {
    pub region: &'a str,
    pub server: &'a str,
    pub token_hash: &'a str,
    pub body: &'a proto::Heartbeat,
}

/// The registry of one deployment.
#[derive(Debug, Clone)]
pub struct Registry {
    pub keys: Keys,
    pub redis: Client,
    pub heartbeat_ttl: Duration,
    /// The longest a game may run (`pool.max_game_ms`; zero: no limit).
    pub max_game: Duration,
}

impl Registry {
    /// The region `server` is registered in.
    pub async fn region_of(&self, server: &str) -> Result<Option<String>, fred::error::Error> {
        self.redis.hget(self.keys.server_regions(), server).await
    }

    /// Registers `server` as a new incarnation with a new token, unless a live
    /// incarnation holds its id.
    pub async fn register(
        &self,
        server: &RegisterServer,
    ) -> Result<Registration, crate::api::Failure> {
        let id = server.id.as_str();
        let region = server.region.as_str();
        if let Some(other) = self.region_of(id).await?.filter(|other| other != region) {
            return Ok(Registration::OtherRegion(other));
        }
        let credential = crate::credentials::issue(region, id).map_err(|err| {
            tracing::error!(error = %err, "no random bytes for a server token");
            crate::api::Failure::unavailable("cannot issue a server token right now; retry")
        })?;
        let labels = serde_json::to_string(&server.labels).unwrap_or_else(|_| "{}".to_owned());
        let reply = REGISTER
            .run(
                &self.redis,
                scripts::pool_register(&self.keys, region, id),
                vec![
                    id.to_owned(),
                    server.address.clone(),
                    server.capacity.to_string(),
                    labels,
                    self.heartbeat_ttl.as_millis().to_string(),
                    credential.hash.clone(),
                ],
            )
            .await?;
        match reply {
            RegisterReply::InUse {
                incarnation,
                lapses_in_ms,
            } => Ok(Registration::InUse {
                incarnation,
                lapses_in_ms,
            }),
            RegisterReply::Registered {
                incarnation,
                orphaned,
            } => {
                let _: i64 = self
                    .redis
                    .hset(self.keys.server_regions(), (id, region))
                    .await?;
                // Registering is how a drained server rejoins: it is no longer "drained".
                let _: i64 = self.redis.del(self.keys.server_drained(id)).await?;
                Ok(Registration::Registered {
                    credential,
                    incarnation,
                    orphaned,
                })
            }
        }
    }

    /// Whether `token_hash` is the token of the incarnation registered as `server`.
    pub async fn authenticate(
        &self,
        region: &str,
        server: &str,
        token_hash: &str,
    ) -> Result<Authenticated, fred::error::Error> {
        use subtle::ConstantTimeEq as _;
        let kept: Option<String> = self
            .redis
            .hget(self.keys.pool(region).server(server), "token_hash")
            .await?;
        Ok(match kept {
            None => Authenticated::Unknown,
            Some(kept) if bool::from(kept.as_bytes().ct_eq(token_hash.as_bytes())) => {
                Authenticated::Yes
            }
            Some(_) => Authenticated::No,
        })
    }

    /// Records a heartbeat, and reviews the server's games: those it no longer runs, and
    /// those past the longest game, are returned to be ended.
    pub async fn heartbeat(
        &self,
        beat: BeatReport<'_>,
    ) -> Result<(Beat, Vec<String>), fred::error::Error> {
        let BeatReport {
            region,
            server,
            token_hash,
            body,
        } = beat;
        let games: Vec<String> = self
            .redis
            .smembers(self.keys.pool(region).games(server))
            .await?;
        let refs: Vec<&str> = games.iter().map(String::as_str).collect();
        let listed: std::collections::HashSet<&str> =
            body.games.iter().flatten().map(proto::Id::as_str).collect();
        let mut args = vec![
            server.to_owned(),
            self.heartbeat_ttl.as_millis().to_string(),
            token_hash.to_owned(),
            body.active_games.map(|n| n.to_string()).unwrap_or_default(),
            body.players.map(|n| n.to_string()).unwrap_or_default(),
            if body.games.is_some() { "1" } else { "0" }.to_owned(),
            self.max_game.as_millis().to_string(),
        ];
        for game in &games {
            args.push(game.clone());
            args.push(
                if listed.contains(game.as_str()) {
                    "1"
                } else {
                    "0"
                }
                .to_owned(),
            );
        }
        let HeartbeatReply(beat, orphaned) = HEARTBEAT
            .run(
                &self.redis,
                scripts::pool_heartbeat(&self.keys, region, server, &refs),
                args,
            )
            .await?;
        if beat == Beat::Left {
            self.forget_drained(server).await?;
        }
        Ok((beat, orphaned))
    }

    /// Stops allocating to `server`; it leaves once its games end. It is marked drained
    /// first, so from now on a heartbeat that finds it gone (left, or reaped while
    /// draining) answers 410 rather than 404, whichever order things happen in. A
    /// server draining itself sends its `token_hash` (checked); an operator sends none.
    pub async fn drain(
        &self,
        region: &str,
        server: &str,
        token_hash: Option<&str>,
    ) -> Result<Drained, fred::error::Error> {
        if let Some(token_hash) = token_hash {
            match self.authenticate(region, server, token_hash).await? {
                Authenticated::Yes => {}
                Authenticated::No => return Ok(Drained::Unauthorized),
                Authenticated::Unknown => return Ok(Drained::Unknown),
            }
        }
        self.mark_drained(server).await?;
        let outcome = DRAIN
            .run(
                &self.redis,
                scripts::pool_drain(&self.keys, region, server),
                vec![server.to_owned(), token_hash.unwrap_or_default().to_owned()],
            )
            .await?;
        let drained = match outcome {
            DrainReply::Left => Drained::Left,
            DrainReply::Draining => Drained::Draining,
            DrainReply::Unknown => Drained::Unknown,
            DrainReply::Unauthorized => Drained::Unauthorized,
        };
        match drained {
            Drained::Left => self.forget_drained(server).await?,
            Drained::Draining => {}
            // Nothing was drained: the mark goes again.
            Drained::Unknown | Drained::Unauthorized => {
                let _: i64 = self.redis.del(self.keys.server_drained(server)).await?;
            }
        }
        Ok(drained)
    }

    /// Drops a server from the id -> region map (a dead server the reaper removed: its
    /// next heartbeat gets 404, and it registers again), unless it registered again
    /// meanwhile.
    pub async fn forget(&self, region: &str, server: &str) -> Result<(), fred::error::Error> {
        let registered: i64 = self
            .redis
            .exists(self.keys.pool(region).server(server))
            .await?;
        if registered == 0 {
            let _: i64 = self.redis.hdel(self.keys.server_regions(), server).await?;
        }
        Ok(())
    }

    /// Drops a server that left by a drain from the id -> region map, remembering for
    /// [`core_keys::ttl::DRAINED_SERVER`] from now that it was drained.
    pub async fn forget_drained(&self, server: &str) -> Result<(), fred::error::Error> {
        self.mark_drained(server).await?;
        let _: i64 = self.redis.hdel(self.keys.server_regions(), server).await?;
        Ok(())
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
