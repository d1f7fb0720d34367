//! Sessions in Redis: a player's one live connection, wherever it is.
//!
//! `{p:<player>}:session` names the gateway and connection holding the player's socket.
//! Opening a session replaces any other in one script (`session_open.lua`), and the
//! gateway then signals the replaced connection through the player's inbox
//! ([`proto::Event::SessionReplaced`]). Closing is compare-and-delete on the connection id
//! (`session_close.lua`), so the late cleanup of a replaced connection never removes the
//! session that replaced it. The gateway refreshes every local session once per heartbeat
//! (one pipeline of plain commands, or `session_touch.lua` when the chat budget has
//! spending to save or the session had lapsed); a session whose gateway died lapses
//! after the TTL, and a touch that finds the session taken over tells the connection it
//! was replaced, in case the signal was lost (signals are hints, state is the truth).

use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::Client;
use service_runtime::clock::now_ms;
use service_runtime::script::LuaScript;

static OPEN: LuaScript<Vec<fred::types::Value>> =
    LuaScript::new(include_str!("session/session_open.lua"));
static TOUCH: LuaScript<(i64, i64, String, i64)> =
    LuaScript::new(include_str!("session/session_touch.lua"));
static CLOSE: LuaScript<(i64, String)> = LuaScript::new(include_str!("session/session_close.lua"));

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
    /// The player's chat budget as saved (ms since the epoch when it is full again).
    pub chat_full_at_ms: u64,
    /// The party the player is in (its membership is refreshed, and the client told).
    pub party: Option<String>,
    /// Until when the studio's backend muted the player (ms since the epoch; 0: not).
    pub muted_until_ms: u64,
    /// The pushes sent while the player was between sockets (encoded event envelopes,
    /// oldest first), to deliver right after `welcome`.
    pub kept_pushes: Vec<bytes::Bytes>,
    /// Whether the player's block list is in Redis (else the cache-warmer loads it).
    pub blocks_loaded: bool,
    /// Who the player blocked.
    pub blocks: Vec<String>,
    /// The rooms the player was in before (to rejoin).
    pub rooms: Vec<String>,
}

/// The result of a heartbeat refresh: what happened to the session, and the chat budget
/// Redis holds now (the later of what it had and what the connection held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub session: Touch,
    pub chat_full_at_ms: u64,
    /// The party the player is in, whose membership the heartbeat refreshes too.
    pub party: Option<String>,
    /// Until when the player is muted (0: not), as Redis holds it.
    pub muted_until_ms: u64,
}

/// Where a player stands, for presence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Presence {
    pub online: bool,
    /// The gateway holding their socket, while online.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Now while online; else when their last session ended (kept 30 days), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
}

/// What closing a session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The session was this connection's and is gone (not taken over by a newer one).
    pub removed: bool,
    /// The party the player is in, whose membership now lasts the reconnect grace.
    pub party: Option<String>,
}

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

    /// Makes `conn` the live session of `player`; `handover` (an encoded
    /// `session_replaced` naming `conn`) is published on the player's inbox if it replaces
    /// another session, in the same step.
    pub async fn open(
        &self,
        player: &str,
        conn: &str,
        handover: bytes::Bytes,
    ) -> Result<Opened, fred::error::Error> {
        let mut args: Vec<fred::types::Value> =
            self.open_args(conn).into_iter().map(Into::into).collect();
        args.push(fred::types::Value::Bytes(handover));
        let reply = OPEN
            .run(&self.redis, scripts::session_open(&self.keys, player), args)
            .await?;
        let mut reply = reply.into_iter();
        let mut text = || reply_text(reply.next());
        let old_gateway = text();
        let old_conn = text();
        let live_match = text();
        let profile_cached = text() == "1";
        let chat_full_at_ms = budget_ms(&text());
        let party = Some(text()).filter(|party| !party.is_empty());
        let muted_until_ms = text().parse().unwrap_or(0);
        let kept = text().parse::<usize>().unwrap_or(0);
        let kept_pushes = reply
            .by_ref()
            .take(kept)
            .filter_map(|v| v.as_bytes().map(bytes::Bytes::copy_from_slice))
            .collect();
        let blocks_loaded = reply_text(reply.next()) == "1";
        let listed = reply_text(reply.next()).parse::<usize>().unwrap_or(0);
        let blocks = reply
            .by_ref()
            .take(listed)
            .map(|v| reply_text(Some(v)))
            .collect();
        Ok(Opened {
            replaced: (!old_conn.is_empty()).then_some((old_gateway, old_conn)),
            live_match: (!live_match.is_empty()).then_some(live_match),
            profile_cached,
            chat_full_at_ms,
            party,
            muted_until_ms,
            kept_pushes,
            blocks_loaded,
            blocks,
            rooms: reply.map(|v| reply_text(Some(v))).collect(),
        })
    }

    /// Refreshes `player`'s session if `conn` still holds it, and saves the chat budget
    /// the connection holds (`chat_full_at_ms`).
    ///
    /// The common case, a session still this connection's and no chat spending to save
    /// (the budget the connection holds is full by now), is one round trip of plain
    /// commands in the player's slot ([`Sessions::refresh`]); the script runs only when
    /// there is something to decide: spending to merge, or a session found lapsed.
    pub async fn touch(
        &self,
        player: &str,
        conn: &str,
        chat_full_at_ms: u64,
    ) -> Result<Touched, fred::error::Error> {
        if chat_full_at_ms <= now_ms()
            && let Some(touched) = self.refresh(player, conn).await?
        {
            return Ok(touched);
        }
        self.touch_by_script(player, conn, chat_full_at_ms).await
    }

    /// The heartbeat's plain refresh: reads who holds the session, pushes forward the
    /// session's, the rooms' and the party's TTLs, reads the party, the saved chat budget
    /// and the mute, in one pipeline. `None` when the session has lapsed (the script then
    /// restores it). A session another connection holds gets its TTLs pushed forward as
    /// well (harmless: that connection refreshes them anyway) and is reported `Replaced`.
    /// About a quarter of the script's time inside Redis, and a replica applies two
    /// `PEXPIREAT`s instead of a `MULTI`/`EXEC` (measured in the commit that made it).
    async fn refresh(
        &self,
        player: &str,
        conn: &str,
    ) -> Result<Option<Touched>, fred::error::Error> {
        use fred::prelude::{HashesInterface, KeysInterface};
        let p = self.keys.player(player);
        let pipeline = self.redis.pipeline();
        let _: () = pipeline.hget(p.session(), "conn").await?;
        let _: () = pipeline
            .pexpire(p.session(), ttl_ms(self.ttl), None)
            .await?;
        let _: () = pipeline
            .pexpire(p.rooms(), ttl_ms(self.rooms_ttl()), None)
            .await?;
        let _: () = pipeline
            .pexpire(p.party(), ttl_ms(self.rooms_ttl()), None)
            .await?;
        let _: () = pipeline.get(p.party()).await?;
        let _: () = pipeline.get(p.chat_rate()).await?;
        let _: () = pipeline.get(p.mute()).await?;
        let (holder, _, _, _, party, saved, muted): RefreshReply = pipeline.all().await?;
        let Some(holder) = holder else {
            return Ok(None);
        };
        let session = if holder == conn {
            Touch::Refreshed
        } else {
            Touch::Replaced
        };
        Ok(Some(Touched {
            session,
            chat_full_at_ms: budget_ms(saved.as_deref().unwrap_or("")),
            // As the script: a replaced connection does not refresh the party.
            party: party.filter(|party| !party.is_empty() && session == Touch::Refreshed),
            muted_until_ms: muted.and_then(|m| m.parse().ok()).unwrap_or(0),
        }))
    }

    /// `session_touch.lua`: the refresh that also saves the connection's chat spending,
    /// or restores a lapsed session.
    async fn touch_by_script(
        &self,
        player: &str,
        conn: &str,
        chat_full_at_ms: u64,
    ) -> Result<Touched, fred::error::Error> {
        let mut args = self.open_args(conn);
        args.push(chat_full_at_ms.to_string());
        let (status, saved, party, muted_until) = TOUCH
            .run(&self.redis, scripts::session_open(&self.keys, player), args)
            .await?;
        let session = match status {
            0 => Touch::Replaced,
            2 => Touch::Restored,
            _ => Touch::Refreshed,
        };
        Ok(Touched {
            session,
            chat_full_at_ms: u64::try_from(saved).unwrap_or(0),
            party: (!party.is_empty()).then_some(party),
            muted_until_ms: u64::try_from(muted_until).unwrap_or(0),
        })
    }

    /// Saves the chat budget the connection held and ends `player`'s session if `conn`
    /// still holds it.
    pub async fn close(
        &self,
        player: &str,
        conn: &str,
        chat_full_at_ms: u64,
    ) -> Result<Closed, fred::error::Error> {
        let (removed, party) = CLOSE
            .run(
                &self.redis,
                scripts::session_open(&self.keys, player),
                vec![
                    conn.to_owned(),
                    ms(self.rooms_grace),
                    chat_full_at_ms.to_string(),
                    now_ms().to_string(),
                    ms(core_keys::ttl::LAST_SEEN),
                ],
            )
            .await?;
        Ok(Closed {
            removed: removed == 1,
            party: (!party.is_empty()).then_some(party),
        })
    }

    /// Where each of `players` stands: connected (to which gateway), or when last seen.
    /// One pipeline per call, whatever the number of players.
    pub async fn presence(&self, players: &[String]) -> Result<Vec<Presence>, fred::error::Error> {
        use fred::prelude::{HashesInterface, KeysInterface};
        let pipeline = self.redis.pipeline();
        for player in players {
            let p = self.keys.player(player);
            let _: () = pipeline.hget(p.session(), "gateway").await?;
            let _: () = pipeline.get(p.last_seen()).await?;
        }
        let replies: Vec<Option<String>> = pipeline.all().await?;
        let now = now_ms();
        Ok(replies
            .chunks(2)
            .map(|pair| {
                let gateway = pair.first().cloned().flatten();
                let seen = pair.get(1).cloned().flatten().and_then(|s| s.parse().ok());
                Presence {
                    online: gateway.is_some(),
                    last_seen_ms: if gateway.is_some() { Some(now) } else { seen },
                    gateway,
                }
            })
            .collect())
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

/// A saved chat budget (ms since the epoch; older versions wrote fractions), 0 if unreadable.
fn budget_ms(saved: &str) -> u64 {
    saved
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(0, |v| v.ceil() as u64)
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// [`Sessions::refresh`]'s pipeline's replies: who holds the session, three `PEXPIRE`s,
/// the party, the saved chat budget, the mute.
type RefreshReply = (
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A TTL for `PEXPIRE`.
fn ttl_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A script reply's element as text ('' for none).
fn reply_text(value: Option<fred::types::Value>) -> String {
    value.and_then(|v| v.as_string()).unwrap_or_default()
}
