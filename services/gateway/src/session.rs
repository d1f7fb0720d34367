//! Sessions in Redis: a player's one live connection, wherever it is.
//!
//! `{p:<player>}:session` names the gateway and connection holding the player's socket.
//! Opening a session replaces any other in one script (`session_open.lua`), and the
//! gateway then signals the replaced connection through the player's inbox
//! ([`proto::Event::SessionReplaced`]). Closing is compare-and-delete on the connection id
//! (`session_close.lua`), so the late cleanup of a replaced connection never removes the
//! session that replaced it. The gateway refreshes every local session once per heartbeat
//! (`session_touch.lua`); a session whose gateway died lapses after the TTL, and a touch
//! that finds the session taken over tells the connection it was replaced, in case the
//! signal was lost (signals are hints, state is the truth).

use std::sync::LazyLock;
use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::Client;
use fred::types::scripts::Script;

static OPEN: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("session/session_open.lua")));
static TOUCH: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("session/session_touch.lua")));
static CLOSE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("session/session_close.lua")));

/// What opening a session found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The session it replaced: (gateway, connection).
    pub replaced: Option<(String, String)>,
    /// The player's live match, whose `match.found` a reconnecting client is owed again.
    pub live_match: Option<String>,
    /// Whether the player's profile is in the cache (if not, the cache-warmer is asked
    /// for it now, so it is there by the time the player queues).
    pub profile_cached: bool,
    /// The rooms the player was in before (to rejoin).
    pub rooms: Vec<String>,
}

/// The result of a heartbeat refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    Refreshed,
    /// The session had lapsed and was written again.
    Restored,
    /// Another connection holds the session now.
    Replaced,
}

/// The session store of one gateway instance.
#[derive(Debug, Clone)]
pub struct Sessions {
    keys: Keys,
    redis: Client,
    gateway: String,
    ttl: Duration,
    rooms_grace: Duration,
}

impl Sessions {
    pub fn new(
        keys: Keys,
        redis: Client,
        gateway: String,
        ttl: Duration,
        rooms_grace: Duration,
    ) -> Self {
        Self {
            keys,
            redis,
            gateway,
            ttl,
            rooms_grace,
        }
    }

    /// The rooms set lives as long as the session plus the reconnect grace.
    fn rooms_ttl(&self) -> Duration {
        self.ttl + self.rooms_grace
    }

    /// The arguments `session_open.lua` and `session_touch.lua` share.
    fn open_args(&self, conn: &str) -> Vec<String> {
        vec![
            self.gateway.clone(),
            conn.to_owned(),
            now_ms().to_string(),
            ms(self.ttl),
            ms(self.rooms_ttl()),
        ]
    }

    /// Makes `conn` the live session of `player`.
    pub async fn open(&self, player: &str, conn: &str) -> Result<Opened, fred::error::Error> {
        let reply: Vec<String> = OPEN
            .evalsha_with_reload(
                &self.redis,
                scripts::session_open(&self.keys, player),
                self.open_args(conn),
            )
            .await?;
        let mut reply = reply.into_iter();
        let old_gateway = reply.next().unwrap_or_default();
        let old_conn = reply.next().unwrap_or_default();
        let live_match = reply.next().unwrap_or_default();
        let profile_cached = reply.next().is_some_and(|cached| cached == "1");
        Ok(Opened {
            replaced: (!old_conn.is_empty()).then_some((old_gateway, old_conn)),
            live_match: (!live_match.is_empty()).then_some(live_match),
            profile_cached,
            rooms: reply.collect(),
        })
    }

    /// Refreshes `player`'s session if `conn` still holds it.
    pub async fn touch(&self, player: &str, conn: &str) -> Result<Touch, fred::error::Error> {
        let result: i64 = TOUCH
            .evalsha_with_reload(
                &self.redis,
                scripts::session_open(&self.keys, player),
                self.open_args(conn),
            )
            .await?;
        Ok(match result {
            0 => Touch::Replaced,
            2 => Touch::Restored,
            _ => Touch::Refreshed,
        })
    }

    /// Ends `player`'s session if `conn` still holds it. True if it did.
    pub async fn close(&self, player: &str, conn: &str) -> Result<bool, fred::error::Error> {
        let removed: i64 = CLOSE
            .evalsha_with_reload(
                &self.redis,
                scripts::session_open(&self.keys, player),
                vec![conn.to_owned(), ms(self.rooms_grace)],
            )
            .await?;
        Ok(removed == 1)
    }

    /// The `match.found` the server pool stored for `player` in `match_id`, if the match
    /// was allocated.
    pub async fn match_found(
        &self,
        player: &str,
        match_id: &str,
    ) -> Result<Option<proto::ServerMessage>, fred::error::Error> {
        use fred::prelude::HashesInterface;
        let json: Option<String> = self
            .redis
            .hget(
                self.keys.match_(match_id).record(),
                format!("found:{player}"),
            )
            .await?;
        Ok(json.and_then(|j| {
            proto::decode_server(j.as_bytes(), proto::Encoding::Json, proto::MAX_EVENT_BYTES).ok()
        }))
    }

    /// The `match.found` of `player`'s live match, if they are in one and it was
    /// announced: what a client is owed again after a push may have been lost.
    pub async fn owed_match_found(
        &self,
        player: &str,
    ) -> Result<Option<proto::ServerMessage>, fred::error::Error> {
        use fred::prelude::KeysInterface;
        let live: Option<String> = self
            .redis
            .get(self.keys.player(player).current_match())
            .await?;
        match live {
            Some(match_id) => self.match_found(player, &match_id).await,
            None => Ok(None),
        }
    }

    /// Whether `player` has a live session anywhere.
    pub async fn is_online(&self, player: &str) -> Result<bool, fred::error::Error> {
        use fred::prelude::KeysInterface;
        let exists: i64 = self
            .redis
            .exists(self.keys.player(player).session())
            .await?;
        Ok(exists == 1)
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    service_runtime::instances::now_ms()
}
