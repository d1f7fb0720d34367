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
static MUTE: LuaScript<i64> = LuaScript::new(include_str!("session/session_mute.lua"));

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

/// What one connection's heartbeat refresh needs besides the session itself: its rooms'
/// TTL only while it is in a room, the party pointer's TTL and value only while the
/// player may be in a party. Most players are in neither: their refresh is four plain
/// commands instead of seven.
///
/// Only this connection puts the player in a room or a party (`room.join`, the rejoin at
/// open; `party.create`, `party.accept`), so it knows; a party change reaching the player
/// (`party.updated`, which a replaced connection's late accept also sends) sets the party
/// hint too. Rooms: once the connection tries to join one, its refreshes push the rooms'
/// TTL forward for the rest of its life (a join that failed half-way may have left the
/// room in the set, which must not outlive the session). Party: others may take the
/// player out (a kick, a lapse), so the hint stays "maybe" until a refresh reads no
/// party. A connection starts at "maybe", so its first refresh reads what the player
/// had.
#[derive(Debug, Clone)]
pub struct RefreshHints(std::sync::Arc<HintState>);

#[derive(Debug)]
struct HintState {
    /// `generation << 1 | maybe_in_party`: a party request bumps the generation, so a
    /// refresh that read no party before the request cannot clear the hint after it.
    party: std::sync::atomic::AtomicU64,
    /// Whether the connection tried to join a room.
    rooms: std::sync::atomic::AtomicBool,
}

impl Default for RefreshHints {
    fn default() -> Self {
        Self(std::sync::Arc::new(HintState {
            party: std::sync::atomic::AtomicU64::new(1),
            rooms: std::sync::atomic::AtomicBool::new(false),
        }))
    }
}

impl RefreshHints {
    /// What the next refresh needs, and the party hint it was decided on (for
    /// [`RefreshHints::no_party`]).
    pub fn needs(&self) -> (Needs, u64) {
        use std::sync::atomic::Ordering;
        let party = self.0.party.load(Ordering::Acquire);
        let needs = Needs {
            rooms: self.0.rooms.load(Ordering::Acquire),
            party: party & 1 == 1,
        };
        (needs, party)
    }

    /// After a request that may have put the player in a party (once its script ran).
    pub fn party_maybe(&self) {
        use std::sync::atomic::Ordering;
        // Next generation, "maybe" set: one step, so no refresh sees half of it.
        let _previous = self
            .0
            .party
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |hint| {
                Some(hint.wrapping_add(2) | 1)
            });
    }

    /// A refresh decided on `seen` read no party: the hint clears, unless a party request
    /// came since.
    pub fn no_party(&self, seen: u64) {
        use std::sync::atomic::Ordering;
        let _changed_since =
            self.0
                .party
                .compare_exchange(seen, seen & !1, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Before the connection joins a room (from then on, refreshes keep the rooms).
    pub fn joining_rooms(&self) {
        self.0
            .rooms
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

/// What a refresh pushes forward and reads besides the session (see [`RefreshHints`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub rooms: bool,
    pub party: bool,
}

/// The result of a heartbeat refresh: what happened to the session, and the chat budget
/// Redis holds now (the later of what it had and what the connection held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub session: Touch,
    pub chat_full_at_ms: u64,
    /// The party the player is in, whose membership the heartbeat refreshes too.
    pub party: Option<String>,
    /// Until when the player is muted (0: not), as Redis holds it; `None` when the
    /// refresh read no mute (the session's hash has none: the connection keeps the one
    /// it opened with or was told by event).
    pub muted_until_ms: Option<u64>,
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
    /// `needs`: what the plain refresh may leave out ([`RefreshHints`]).
    pub async fn touch(
        &self,
        player: &str,
        conn: &str,
        chat_full_at_ms: u64,
        needs: Needs,
    ) -> Result<Touched, fred::error::Error> {
        if chat_full_at_ms <= now_ms()
            && let Some(touched) = self.refresh(player, conn, needs).await?
        {
            return Ok(touched);
        }
        self.touch_by_script(player, conn, chat_full_at_ms).await
    }

    /// The heartbeat's plain refresh: reads the session's hash (who holds it, and what
    /// was put there for its connection since it opened: a chat budget a replaced
    /// connection saved as it closed, a mute set by the server API), pushes forward the
    /// session's TTL, and, as `needs` says, pushes forward the rooms' TTL and the party
    /// pointer's and reads it, in one pipeline: two commands for a player in no room and
    /// no party (the saved budget and the mute had a `GET` each before they were copied
    /// into the hash). `None` when the session has lapsed (the script then restores it). A
    /// session another connection holds gets its TTLs pushed forward as well (harmless:
    /// that connection refreshes them anyway) and is reported `Replaced`. About a
    /// quarter of the script's time inside Redis, and a replica applies the `PEXPIREAT`s
    /// alone instead of a `MULTI`/`EXEC` (measured in the commit that made it).
    async fn refresh(
        &self,
        player: &str,
        conn: &str,
        needs: Needs,
    ) -> Result<Option<Touched>, fred::error::Error> {
        use fred::prelude::{HashesInterface, KeysInterface};
        let p = self.keys.player(player);
        let pipeline = self.redis.pipeline();
        let _: () = pipeline
            .hmget(p.session(), vec!["conn", "chat_saved", "muted_until"])
            .await?;
        let _: () = pipeline
            .pexpire(p.session(), ttl_ms(self.ttl), None)
            .await?;
        if needs.rooms {
            let _: () = pipeline
                .pexpire(p.rooms(), ttl_ms(self.rooms_ttl()), None)
                .await?;
        }
        if needs.party {
            let _: () = pipeline
                .pexpire(p.party(), ttl_ms(self.rooms_ttl()), None)
                .await?;
            let _: () = pipeline.get(p.party()).await?;
        }
        let replies: Vec<fred::types::Value> = pipeline.all().await?;
        let text = |at: usize| -> Result<Option<String>, fred::error::Error> {
            replies.get(at).cloned().map_or(Ok(None), |v| v.convert())
        };
        // The party's GET is the last command when there is one.
        let party = if needs.party {
            text(replies.len().saturating_sub(1))?
        } else {
            None
        };
        let fields: Vec<Option<String>> = replies
            .first()
            .cloned()
            .map_or(Ok(Vec::new()), |v| v.convert())?;
        let field = |at: usize| fields.get(at).cloned().flatten();
        let (holder, saved, muted) = (field(0), field(1), field(2));
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
            muted_until_ms: muted.and_then(|m| m.parse().ok()),
        }))
    }

    /// Mutes `player` until `until_ms` (0 lifts the mute): kept in the player's slot for
    /// the sessions to come, and in the live session's hash, where the heartbeat finds it
    /// if the event telling the connection is lost (`session_mute.lua`).
    pub async fn set_mute(&self, player: &str, until_ms: u64) -> Result<(), fred::error::Error> {
        let _: i64 = MUTE
            .run(
                &self.redis,
                scripts::session_open(&self.keys, player),
                vec![until_ms.to_string(), now_ms().to_string()],
            )
            .await?;
        Ok(())
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
            muted_until_ms: Some(u64::try_from(muted_until).unwrap_or(0)),
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

/// A TTL for `PEXPIRE`.
fn ttl_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A script reply's element as text ('' for none).
fn reply_text(value: Option<fred::types::Value>) -> String {
    value.and_then(|v| v.as_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_starts_unsure_of_its_party_and_sure_it_is_in_no_room() {
        let (needs, _) = RefreshHints::default().needs();
        assert_eq!(
            needs,
            Needs {
                rooms: false,
                party: true
            }
        );
    }

    #[test]
    fn a_refresh_that_read_no_party_clears_the_hint_unless_a_party_request_came_since() {
        let hints = RefreshHints::default();
        let (_, seen) = hints.needs();
        hints.no_party(seen);
        assert!(!hints.needs().0.party, "no party read, nothing since");

        // A refresh decides, a party.create runs, then the refresh reads no party (its
        // GET ran before the create's script): the hint must stay.
        hints.party_maybe();
        let (_, seen) = hints.needs();
        hints.party_maybe();
        hints.no_party(seen);
        assert!(
            hints.needs().0.party,
            "the create came after the refresh decided"
        );

        // A refresh that left the party out (decided on "no party") cannot clear a
        // party request that came while it ran.
        let (_, seen) = hints.needs();
        hints.no_party(seen);
        let (needs, seen) = hints.needs();
        assert!(!needs.party);
        hints.party_maybe();
        hints.no_party(seen);
        assert!(hints.needs().0.party);
    }

    #[test]
    fn joining_a_room_makes_every_later_refresh_keep_the_rooms() {
        let hints = RefreshHints::default();
        hints.joining_rooms();
        assert!(hints.needs().0.rooms);
        let copy = hints.clone();
        assert!(
            copy.needs().0.rooms,
            "the hint is shared by the connection's copies"
        );
    }
}
