//! A player's one ticket, in Redis.
//!
//! A ticket lives in two slots, so joining is two idempotent steps (docs/ARCHITECTURE.md, "one slot
//! per atomic step"):
//! 1. **reserve** in the player's slot (`ticket_reserve.lua`): set the player's ticket
//!    marker unless one exists or the player is in a match, and read the rating from the
//!    cached profile. The marker is what makes "one ticket per player, across all queues"
//!    hold: it is set with one atomic check. Two answers make the join wait, bounded,
//!    instead of queueing at a wrong rating: the player's last result is posted but not
//!    yet in their rating (`rating_pending`: wait for the cache-warmer's commit), or the
//!    profile is not cached (`no_profile`: ask the cache-warmer to warm it, wait for it).
//!    If the wait runs out the join fails with an error the client sees as `unavailable`.
//! 2. **enqueue** in the queue's slot (`ticket_enqueue.lua`): the ticket hash and the two
//!    sorted sets the matchmaker reads (by rating, by age).
//!
//! If step 2 fails the marker is released again; if the process dies between the steps, the
//! marker names a ticket that does not exist, and the next join or leave of that player
//! finds it stale and clears it. Leaving (`ticket_remove.lua`) runs on the queue's slot, so it
//! races the matchmaker's claim safely: a ticket is either removed while still queued, or
//! found claimed and the player told `not_queued`.
//!
//! Marker format: `"<queue> <region> <ticket> <enqueued_ms> <reserved_ms>"` (ids never
//! contain spaces): the wait counts from `enqueued_ms` (kept when a ticket goes back to
//! its queue), staleness from `reserved_ms`, when this marker was set (a marker of four
//! fields, from before, reserved when enqueued).

use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, KeysInterface};
use fred::types::{FromValue, Value};
use service_runtime::clock::now_ms;
use service_runtime::publish::Publisher;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::config::{MatchmakingConfig, ProfilePolicy};
use crate::members::{self, Member, PartyRating};

static RESERVE: LuaScript<Reserve> = LuaScript::new(include_str!("tickets/ticket_reserve.lua"));
static RELEASE: LuaScript<i64> = LuaScript::new(include_str!("tickets/ticket_release.lua"));
static ENQUEUE: LuaScript<i64> = LuaScript::new(include_str!("tickets/ticket_enqueue.lua"));
static REMOVE: LuaScript<Removal> = LuaScript::new(include_str!("tickets/ticket_remove.lua"));
static REQUEUE: LuaScript<i64> = LuaScript::new(include_str!("tickets/ticket_requeue.lua"));
static PLAYER_REQUEUED: LuaScript<i64> =
    LuaScript::new(include_str!("tickets/player_requeued.lua"));

/// What `ticket_reserve.lua` answered.
enum Reserve {
    Reserved {
        rating: String,
    },
    /// The player already has a ticket: its marker.
    Queued {
        marker: String,
    },
    Matched {
        match_id: String,
    },
    RatingPending {
        match_id: String,
    },
    NoProfile,
    /// The player declined a ready check and may not queue until then (ms).
    Cooldown {
        until_ms: u64,
    },
    /// The player is in a party (asked only of a player queueing alone).
    Party {
        party: String,
    },
}

impl FromValue for Reserve {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        let detail = rest.into_iter().next().unwrap_or_default();
        Ok(match tag.as_str() {
            "reserved" => Reserve::Reserved { rating: detail },
            "queued" => Reserve::Queued { marker: detail },
            "matched" => Reserve::Matched { match_id: detail },
            "rating_pending" => Reserve::RatingPending { match_id: detail },
            "no_profile" => Reserve::NoProfile,
            "cooldown" => Reserve::Cooldown {
                until_ms: detail.parse().unwrap_or_default(),
            },
            "party" => Reserve::Party { party: detail },
            other => return Err(unexpected_reply("ticket_reserve.lua", other)),
        })
    }
}

/// What `ticket_remove.lua` answered.
enum Removal {
    /// Removed; who it seated (the members field).
    Removed {
        seats: String,
    },
    Missing,
    /// No longer queued: claimed by a match.
    Claimed,
}

impl FromValue for Removal {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        Ok(match tag.as_str() {
            "removed" => Removal::Removed {
                seats: rest.into_iter().next().unwrap_or_default(),
            },
            "missing" => Removal::Missing,
            _ => Removal::Claimed,
        })
    }
}

/// A marker whose ticket is missing is stale once it is this old: a join in flight
/// enqueues within milliseconds of reserving.
const STALE_MARKER_AFTER: Duration = Duration::from_secs(5);

/// A Redis failure while working on tickets.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("redis: {0}")]
    Redis(fred::error::Error),
    #[error("unexpected reply from {script}: {reply}")]
    Protocol { script: &'static str, reply: String },
    /// The player's last result (match `match_id`) is not in their rating yet.
    #[error("the result of match {match_id} is still being recorded")]
    RatingPending { match_id: String },
    /// The player's profile is not cached and was not warmed in time.
    #[error("the player's profile is not available yet")]
    ProfileUnavailable,
    /// The player declined (or let expire) a ready check and may not queue until then.
    #[error("{player} may not queue until {until_ms} (a declined ready check)")]
    Cooldown { player: String, until_ms: u64 },
}

service_runtime::redis_error_from!(TicketError::Redis);

/// How a join gets its rating ([`MatchmakingConfig::profiles`] and the waits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinPolicy {
    pub default_rating: f64,
    pub profiles: ProfilePolicy,
    pub profile_wait: Duration,
    pub result_wait: Duration,
}

impl JoinPolicy {
    pub fn from_config(config: &MatchmakingConfig) -> Self {
        Self {
            default_rating: config.default_rating,
            profiles: config.profiles,
            profile_wait: Duration::from_millis(config.profile_wait_ms),
            result_wait: Duration::from_millis(config.result_wait_ms),
        }
    }

    /// Every player without a cached profile plays at `rating` (no cache-warmer).
    pub fn default_rating(rating: f64) -> Self {
        Self {
            default_rating: rating,
            profiles: ProfilePolicy::Optional,
            profile_wait: Duration::from_millis(1500),
            result_wait: Duration::from_millis(3000),
        }
    }
}

/// How often a waiting join looks again (the waits are short and rare).
const WAIT_POLL: Duration = Duration::from_millis(20);

/// How often a join waiting for a profile asks for it again.
const WARM_REQUEST_AGAIN: Duration = Duration::from_millis(250);

/// A ticket in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    /// Everyone it seats (a party's leader first).
    pub members: Vec<Member>,
    pub queue: String,
    pub region: String,
    pub rating: f64,
    pub enqueued_ms: u64,
}

/// What `queue.join` did.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinOutcome {
    /// The ticket is queued.
    Joined(Ticket),
    /// The player already has a ticket (in this or another queue).
    AlreadyQueued { queue: String, region: String },
    /// The player is in a live match and cannot queue until it ends.
    InMatch { match_id: String },
    /// A member of the party has a ticket of their own (nothing was queued).
    MemberQueued {
        player: String,
        queue: String,
        region: String,
    },
    /// A member of the party is in a live match (nothing was queued).
    MemberInMatch { player: String, match_id: String },
    /// The player is in a party: its leader queues it ([`Tickets::join_party`]).
    InParty { party: String },
}

/// What the first step of a join found for one player.
enum Reserved {
    /// The marker is set; the player's rating.
    Rating(f64),
    /// The player has a ticket already.
    Queued { queue: String, region: String },
    /// The player is in a live match.
    InMatch { match_id: String },
    /// The player is in a party (asked only when queueing alone).
    InParty { party: String },
}

/// What [`Tickets::reseat`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reseated {
    /// Everyone the old ticket seated (their markers are released).
    pub removed: Vec<String>,
    /// The new ticket of those still in the party, at the old ticket's wait.
    pub requeued: Option<Ticket>,
}

/// What `queue.leave` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// The ticket was removed before any match claimed it; everyone it seated (the
    /// player's party too), whose markers are released.
    Left { players: Vec<String> },
    /// There was no queued ticket: none at all, or it was already matched.
    NotQueued,
}

/// Where a player stands (`queue.status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStatus {
    Idle,
    Searching {
        queue: String,
        region: String,
        ticket: String,
        waited_ms: u64,
    },
    Matched {
        match_id: String,
        queue: Option<String>,
        region: Option<String>,
    },
}

/// The parsed ticket marker of a player.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Marker {
    queue: String,
    region: String,
    ticket: String,
    enqueued_ms: u64,
    reserved_ms: u64,
}

impl Marker {
    /// A marker for a new ticket in `queue`/`region`, enqueued now.
    fn new(queue: &str, region: &str) -> Self {
        Marker {
            queue: queue.to_owned(),
            region: region.to_owned(),
            ticket: uuid::Uuid::new_v4().simple().to_string(),
            enqueued_ms: now_ms(),
            reserved_ms: now_ms(),
        }
    }

    fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.queue, self.region, self.ticket, self.enqueued_ms, self.reserved_ms
        )
    }

    fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(' ');
        let queue = parts.next()?.to_owned();
        let region = parts.next()?.to_owned();
        let ticket = parts.next()?.to_owned();
        let enqueued_ms = parts.next()?.parse().ok()?;
        let reserved_ms = match parts.next() {
            Some(reserved) => reserved.parse().ok()?,
            None => enqueued_ms,
        };
        parts.next().is_none().then_some(Marker {
            queue,
            region,
            ticket,
            enqueued_ms,
            reserved_ms,
        })
    }
}

/// Tickets of one deployment (namespace). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tickets {
    keys: Keys,
    redis: Client,
    policy: JoinPolicy,
    publisher: Publisher,
}

impl Tickets {
    pub fn new(keys: Keys, redis: Client, policy: JoinPolicy) -> Self {
        Self {
            publisher: Publisher::new(redis.clone()),
            keys,
            redis,
            policy,
        }
    }

    /// Queues `player` in `queue`/`region` (already validated against the config), or
    /// answers [`JoinOutcome::InParty`] if they are in a party (its leader queues it:
    /// [`Tickets::join_party`]); the check costs nothing more than the join's own script.
    pub async fn join(
        &self,
        player: &str,
        queue: &str,
        region: &str,
    ) -> Result<JoinOutcome, TicketError> {
        self.join_alone(player, queue, region, true).await
    }

    /// [`Tickets::join`] for a player whose party is of one (or whose party pointer was
    /// found stale): no party check.
    pub async fn join_without_party(
        &self,
        player: &str,
        queue: &str,
        region: &str,
    ) -> Result<JoinOutcome, TicketError> {
        self.join_alone(player, queue, region, false).await
    }

    async fn join_alone(
        &self,
        player: &str,
        queue: &str,
        region: &str,
        check_party: bool,
    ) -> Result<JoinOutcome, TicketError> {
        let marker = Marker::new(queue, region);
        match self.reserve(player, &marker, check_party).await? {
            Reserved::Rating(rating) => {
                let me = [Member {
                    player: player.to_owned(),
                    rating,
                }];
                self.enqueue(&me, marker, rating).await
            }
            Reserved::Queued { queue, region } => Ok(JoinOutcome::AlreadyQueued { queue, region }),
            Reserved::InMatch { match_id } => Ok(JoinOutcome::InMatch { match_id }),
            Reserved::InParty { party } => Ok(JoinOutcome::InParty { party }),
        }
    }

    /// Queues a party (`members`, its leader first) as one ticket at the rating `rule`
    /// makes of theirs: every member's marker names it, so none of them is in another
    /// ticket, and it is matched whole onto one team. A member who cannot queue (queued
    /// already, in a match, their rating pending) stops the join, and the markers already
    /// set are released.
    pub async fn join_party(
        &self,
        members: &[String],
        queue: &str,
        region: &str,
        rule: PartyRating,
    ) -> Result<JoinOutcome, TicketError> {
        self.seat_all(members, Marker::new(queue, region), rule)
            .await
    }

    /// Reserves `marker` for every one of `members`, then enqueues one ticket seating them.
    async fn seat_all(
        &self,
        members: &[String],
        marker: Marker,
        rule: PartyRating,
    ) -> Result<JoinOutcome, TicketError> {
        let mut seated: Vec<Member> = Vec::with_capacity(members.len());
        for player in members {
            let reserved = self.reserve(player, &marker, false).await;
            let refused = match reserved {
                Ok(Reserved::Rating(rating)) => {
                    seated.push(Member {
                        player: player.clone(),
                        rating,
                    });
                    continue;
                }
                Ok(Reserved::Queued { queue, region }) => Ok(JoinOutcome::MemberQueued {
                    player: player.clone(),
                    queue,
                    region,
                }),
                Ok(Reserved::InMatch { match_id }) => Ok(JoinOutcome::MemberInMatch {
                    player: player.clone(),
                    match_id,
                }),
                Ok(Reserved::InParty { party }) => Err(TicketError::Protocol {
                    script: "ticket_reserve",
                    reply: format!("a party check answered for a member of party {party}"),
                }),
                Err(err) => Err(err),
            };
            for member in &seated {
                if let Err(err) = self.release(&member.player, &marker.ticket).await {
                    tracing::debug!(player = %member.player, error = %err, "could not release a party member's marker; it is found stale");
                }
            }
            return refused;
        }
        let rating = rule.of(&seated);
        self.enqueue(&seated, marker, rating).await
    }

    /// Sets `player`'s marker to `marker` (the first step of a join), waiting, bounded,
    /// for a pending rating or a profile being warmed, and clearing a stale marker.
    async fn reserve(
        &self,
        player: &str,
        marker: &Marker,
        check_party: bool,
    ) -> Result<Reserved, TicketError> {
        // At most two rounds after clearing a stale marker; waits for a pending rating or a
        // missing profile are bounded by their own deadlines.
        let mut stale_rounds = 0;
        let started = tokio::time::Instant::now();
        let mut warm_requested_at: Option<tokio::time::Instant> = None;
        let mut profile_wait_started: Option<tokio::time::Instant> = None;
        while stale_rounds < 2 {
            let reply = RESERVE
                .run(
                    &self.redis,
                    scripts::ticket_reserve(&self.keys, player),
                    vec![
                        marker.encode(),
                        self.fallback_rating(),
                        self.waits_for_results().to_owned(),
                        if check_party { "1" } else { "0" }.to_owned(),
                    ],
                )
                .await?;
            match reply {
                Reserve::RatingPending { match_id } => {
                    if started.elapsed() >= self.policy.result_wait {
                        return Err(TicketError::RatingPending { match_id });
                    }
                    tokio::time::sleep(WAIT_POLL).await;
                    continue;
                }
                Reserve::NoProfile => {
                    // Asked again now and then: the request is a hint and may be lost (the
                    // cache-warmer restarting, its subscription not yet made).
                    if warm_requested_at.is_none_or(|at| at.elapsed() >= WARM_REQUEST_AGAIN) {
                        self.request_warm(player).await;
                        warm_requested_at = Some(tokio::time::Instant::now());
                    }
                    let waiting_since =
                        *profile_wait_started.get_or_insert_with(tokio::time::Instant::now);
                    if waiting_since.elapsed() >= self.policy.profile_wait {
                        return Err(TicketError::ProfileUnavailable);
                    }
                    tokio::time::sleep(WAIT_POLL).await;
                    continue;
                }
                Reserve::Reserved { rating } => {
                    // A profile with a rating that is not a finite number plays at the default.
                    let rating = rating
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite())
                        .unwrap_or(self.policy.default_rating);
                    return Ok(Reserved::Rating(rating));
                }
                Reserve::Matched { match_id } => {
                    return Ok(Reserved::InMatch { match_id });
                }
                Reserve::Party { party } => return Ok(Reserved::InParty { party }),
                Reserve::Cooldown { until_ms } => {
                    return Err(TicketError::Cooldown {
                        player: player.to_owned(),
                        until_ms,
                    });
                }
                Reserve::Queued { marker: existing } => {
                    let Some(old) = Marker::parse(&existing) else {
                        // Not ours to interpret: clear it, it blocks the player forever.
                        self.release(player, &existing).await?;
                        stale_rounds += 1;
                        continue;
                    };
                    if self.is_stale(&old).await? {
                        self.release(player, &old.ticket).await?;
                        stale_rounds += 1;
                        continue;
                    }
                    return Ok(Reserved::Queued {
                        queue: old.queue,
                        region: old.region,
                    });
                }
            }
        }
        // A stale marker came back twice in a row: someone else is racing this player.
        Err(TicketError::Protocol {
            script: "ticket_reserve",
            reply: "the ticket marker kept changing; try again".to_owned(),
        })
    }

    /// The rating a player without a cached profile plays at, or '' when a profile is
    /// required (the script then answers `no_profile`).
    fn fallback_rating(&self) -> String {
        match self.policy.profiles {
            ProfilePolicy::Required => String::new(),
            ProfilePolicy::Optional => self.policy.default_rating.to_string(),
        }
    }

    /// '1' when a join waits for the player's last result to reach their rating: only
    /// where a cache-warmer runs (profiles required) does anyone ever clear the mark.
    fn waits_for_results(&self) -> &'static str {
        match self.policy.profiles {
            ProfilePolicy::Required => "1",
            ProfilePolicy::Optional => "0",
        }
    }

    /// Asks the cache-warmer to load `player`'s profile now (a hint: its reconcile scan
    /// finds the player's marker-less session too).
    async fn request_warm(&self, player: &str) {
        let Ok(id) = proto::Id::parse(player) else {
            return;
        };
        let event = proto::Event::WarmProfiles { players: vec![id] };
        self.publisher
            .publish_event(&self.keys.warm_requests_channel(), event)
            .await;
    }

    async fn enqueue(
        &self,
        seats: &[Member],
        marker: Marker,
        rating: f64,
    ) -> Result<JoinOutcome, TicketError> {
        let enqueued = ENQUEUE
            .run(
                &self.redis,
                scripts::queue_enqueue(&self.keys, &marker.queue, &marker.region, &marker.ticket),
                vec![
                    marker.ticket.clone(),
                    members::encode(seats),
                    rating.to_string(),
                    marker.enqueued_ms.to_string(),
                    // The matchmaker's match continues the caller's trace (`queue.join`).
                    service_runtime::trace::traceparent(&tracing::Span::current())
                        .unwrap_or_default(),
                ],
            )
            .await;
        // On an error the script may still have run (a timeout, a reply lost in a
        // failover): the markers stay. If the ticket is not there, the next join finds
        // them stale and clears them; if it is, the players are queued as they asked.
        enqueued?;
        Ok(JoinOutcome::Joined(Ticket {
            id: marker.ticket,
            members: seats.to_vec(),
            queue: marker.queue,
            region: marker.region,
            rating,
            enqueued_ms: marker.enqueued_ms,
        }))
    }

    /// A party's ticket after members left it (`gone`, dropped past the reconnect grace):
    /// taken out of its queue, and the members still in the party (`staying`) queued
    /// again on a new ticket at the original wait, rated by `rule` (looked up by queue).
    /// `None` if the ticket was not waiting any more (matched, left, expired).
    pub async fn reseat(
        &self,
        gone: &[String],
        staying: &[String],
        rule: impl Fn(&str) -> Option<PartyRating>,
    ) -> Result<Option<Reseated>, TicketError> {
        // The first of them whose marker names a ticket (each names the party's one).
        let mut found = None;
        for player in gone {
            let raw: Option<String> = self.redis.get(self.keys.player(player).ticket()).await?;
            if let Some(marker) = raw.as_deref().and_then(Marker::parse) {
                found = Some((player, marker));
                break;
            }
        }
        let Some((anyone, marker)) = found else {
            return Ok(None);
        };
        let LeaveOutcome::Left { players } = self.leave(anyone).await? else {
            return Ok(None);
        };
        let staying: Vec<String> = staying
            .iter()
            .filter(|p| players.contains(p))
            .cloned()
            .collect();
        let mut requeued = None;
        if let (false, Some(rule)) = (staying.is_empty(), rule(&marker.queue)) {
            // A new ticket, reserved now, at the old one's wait.
            let again = Marker {
                ticket: uuid::Uuid::new_v4().simple().to_string(),
                reserved_ms: now_ms(),
                ..marker
            };
            // Out of the queue already: whatever stops the new ticket (a member's rating
            // pending, Redis), everyone is told they are out rather than left believing
            // they wait.
            requeued = match self.seat_all(&staying, again, rule).await {
                Ok(JoinOutcome::Joined(ticket)) => Some(ticket),
                Ok(_) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "a party lost a member and could not queue again; its members are told they left the queue");
                    None
                }
            };
        }
        Ok(Some(Reseated {
            removed: players,
            requeued,
        }))
    }

    /// Takes `player`'s ticket out of its queue, unless a match claimed it first.
    pub async fn leave(&self, player: &str) -> Result<LeaveOutcome, TicketError> {
        let raw: Option<String> = self.redis.get(self.keys.player(player).ticket()).await?;
        let Some(raw) = raw else {
            return Ok(LeaveOutcome::NotQueued);
        };
        let Some(marker) = Marker::parse(&raw) else {
            self.release(player, &raw).await?;
            return Ok(LeaveOutcome::NotQueued);
        };
        let removed = REMOVE
            .run(
                &self.redis,
                scripts::queue_enqueue(&self.keys, &marker.queue, &marker.region, &marker.ticket),
                vec![marker.ticket.clone()],
            )
            .await?;
        match removed {
            Removal::Removed { seats } => {
                // Everyone the ticket seated is out of the queue: a party leaves whole.
                let mut players: Vec<String> = members::parse(&seats, 0.0)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m.player)
                    .collect();
                if !players.iter().any(|p| p == player) {
                    players.push(player.to_owned());
                }
                for seated in &players {
                    self.release(seated, &marker.ticket).await?;
                }
                Ok(LeaveOutcome::Left { players })
            }
            Removal::Missing => {
                if self.is_stale(&marker).await? {
                    self.release(player, &marker.ticket).await?;
                }
                Ok(LeaveOutcome::NotQueued)
            }
            Removal::Claimed => Ok(LeaveOutcome::NotQueued),
        }
    }

    /// Where `player` stands.
    pub async fn status(&self, player: &str) -> Result<TicketStatus, TicketError> {
        let keys = self.keys.player(player);
        let pipeline = self.redis.pipeline();
        let _: () = pipeline.get(keys.ticket()).await?;
        let _: () = pipeline.get(keys.current_match()).await?;
        let (raw, live_match): (Option<String>, Option<String>) = pipeline.all().await?;
        if let Some(marker) = raw.as_deref().and_then(Marker::parse) {
            let ticket_key = self
                .keys
                .queue(&marker.queue, &marker.region)
                .ticket(&marker.ticket);
            let (state, match_id): (Option<String>, Option<String>) =
                self.redis.hmget(ticket_key, vec!["state", "match"]).await?;
            match (state.as_deref(), match_id) {
                (Some("queued"), _) => {
                    return Ok(TicketStatus::Searching {
                        waited_ms: now_ms().saturating_sub(marker.enqueued_ms),
                        queue: marker.queue,
                        region: marker.region,
                        ticket: marker.ticket,
                    });
                }
                (Some(_), Some(match_id)) => {
                    return Ok(TicketStatus::Matched {
                        match_id,
                        queue: Some(marker.queue),
                        region: Some(marker.region),
                    });
                }
                _ => {}
            }
        }
        Ok(match live_match {
            Some(match_id) => TicketStatus::Matched {
                match_id,
                queue: None,
                region: None,
            },
            None => TicketStatus::Idle,
        })
    }

    /// Whether the marker names a ticket that is gone and was reserved long enough ago
    /// that no join is still in flight for it.
    async fn is_stale(&self, marker: &Marker) -> Result<bool, TicketError> {
        let age = now_ms().saturating_sub(marker.reserved_ms);
        if age < STALE_MARKER_AFTER.as_millis() as u64 {
            return Ok(false);
        }
        let exists: i64 = self
            .redis
            .exists(
                self.keys
                    .queue(&marker.queue, &marker.region)
                    .ticket(&marker.ticket),
            )
            .await?;
        Ok(exists == 0)
    }

    /// Puts the tickets of a cancelled match back in their queue with their original
    /// enqueue times, and frees the players from the match. Idempotent: a cancellation
    /// finished twice (after a crash) requeues once.
    pub async fn requeue(&self, record: &crate::MatchRecord) -> Result<(), TicketError> {
        // Ticket by ticket: a party's members go back on their one ticket, together.
        let mut tickets: Vec<(&str, Vec<&crate::MatchedTicket>)> = Vec::new();
        for seat in record.players() {
            match tickets.iter_mut().find(|(id, _)| *id == seat.ticket) {
                Some((_, seats)) => seats.push(seat),
                None => tickets.push((seat.ticket.as_str(), vec![seat])),
            }
        }
        for (ticket, seats) in tickets {
            let enqueued_ms = seats
                .iter()
                .map(|s| s.enqueued_ms)
                .min()
                .unwrap_or_default();
            let marker = Marker {
                queue: record.queue.clone(),
                region: record.region.clone(),
                ticket: ticket.to_owned(),
                enqueued_ms,
                reserved_ms: now_ms(),
            };
            // The players first (out of the match, marker back), then the ticket: the
            // other order could let a new match claim the ticket before the markers are set.
            let mut freed = Vec::with_capacity(seats.len());
            for seat in &seats {
                let out = PLAYER_REQUEUED
                    .run(
                        &self.redis,
                        scripts::player_matched(&self.keys, &seat.player),
                        vec![record.match_id.clone(), marker.encode()],
                    )
                    .await?;
                if out == 1 {
                    freed.push(Member {
                        player: seat.player.clone(),
                        rating: seat.rating,
                    });
                }
            }
            if freed.is_empty() {
                continue;
            }
            let rating = seats
                .first()
                .and_then(|s| s.ticket_rating)
                .unwrap_or_else(|| PartyRating::Mean.of(&freed));
            let _requeued = REQUEUE
                .run(
                    &self.redis,
                    scripts::queue_requeue(&self.keys, &record.queue, &record.region, ticket),
                    vec![
                        ticket.to_owned(),
                        members::encode(&freed),
                        rating.to_string(),
                        enqueued_ms.to_string(),
                        record.match_id.clone(),
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// Drops `player`'s marker if it names `ticket` (or is exactly `ticket`, for a marker
    /// that could not be parsed).
    pub async fn release(&self, player: &str, ticket: &str) -> Result<(), TicketError> {
        let _removed = RELEASE
            .run(
                &self.redis,
                scripts::ticket_release(&self.keys, player),
                vec![ticket.to_owned()],
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_and_rejects_junk() {
        let m = Marker {
            queue: "duel".into(),
            region: "eu".into(),
            ticket: "abc".into(),
            enqueued_ms: 17,
            reserved_ms: 20,
        };
        assert_eq!(Marker::parse(&m.encode()), Some(m));
        // A marker from before reservations were timed: reserved when enqueued.
        let old = Marker::parse("duel eu abc 17").expect("parses");
        assert_eq!(old.reserved_ms, 17);
        assert_eq!(Marker::parse("duel eu abc"), None);
        assert_eq!(Marker::parse("duel eu abc x"), None);
        assert_eq!(Marker::parse("duel eu abc 1 2 extra"), None);
    }
}
