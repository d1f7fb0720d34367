//! Ready checks: where a queue has one (`ready_check_ms`), a formed match waits for every
//! player to accept it before a server is spent on it.
//!
//! The check is one hash in the match's slot (`{m:<match>}:ready`): opened by the
//! hand-over (`ready_start.lua`, once), answered by each player through whichever
//! gateway holds them (`ready_answer.lua`: the first answer counts, every player is told
//! `match.ready_update`), and decided by the matchmaker holding the match's queue
//! (`ready_settle.lua`, from the queue's `ready-checks` index each tick, so a matchmaker
//! killed meanwhile loses nothing: the next holder settles it). Decided once, it stays
//! decided, so a settle redone after a crash does the same again:
//! - everyone accepted: the match goes to the pool (hand-over step 3) as without a check;
//! - someone declined, or it expired with answers missing: `match.cancelled` {`reason`:
//!   `declined` / `ready_timeout`}; the tickets whose every player accepted go back to
//!   their queue at their original wait (`requeued: true`; a party whole or not at
//!   all), the others' players are freed (`requeued: false`), and those who declined or
//!   did not answer may not queue for `decline_cooldown_ms`.

use std::time::Duration;

use core_keys::scripts;
use fred::prelude::{KeysInterface, SortedSetsInterface};
use fred::types::{FromValue, Value};
use proto::server::reason;
use proto::{Id, ServerMessage};
use queues::MatchRecord;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::handover::HandoverError;
use crate::state::{MatchState, field};
use crate::{Matches, announce};

static START: LuaScript<i64> = LuaScript::new(include_str!("ready/ready_start.lua"));
static ANSWER: LuaScript<Answered> = LuaScript::new(include_str!("ready/ready_answer.lua"));
static SETTLE: LuaScript<Settled> = LuaScript::new(include_str!("ready/ready_settle.lua"));

/// How long a check's hash outlives its expiry (a late answer is told the check is over).
const KEPT_AFTER_EXPIRY: Duration = Duration::from_secs(3600);

/// What a player's answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// Counted (or counted before): the check's tally now.
    Counted {
        accepted: u32,
        total: u32,
        players: Vec<String>,
    },
    /// No ready check of this player for that match.
    Unknown,
    /// The check is decided or expired (`proceed`, `declined`, `ready_timeout`).
    Over(String),
}

impl FromValue for Answered {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        Ok(match (tag.as_str(), rest.as_slice()) {
            ("counted", [accepted, total, players @ ..]) => Answered::Counted {
                accepted: accepted.parse().unwrap_or_default(),
                total: total.parse().unwrap_or_default(),
                players: players.to_vec(),
            },
            ("unknown", _) => Answered::Unknown,
            ("over", [state]) => Answered::Over(state.clone()),
            (other, _) => return Err(unexpected_reply("ready_answer.lua", other)),
        })
    }
}

/// What settling a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settled {
    Open,
    Missing,
    /// Decided (by this call when `now`): the outcome, the record (JSON), each player's
    /// answer ('' for none).
    Decided {
        outcome: String,
        now: bool,
        record: String,
        answers: Vec<(String, String)>,
    },
}

impl FromValue for Settled {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        Ok(match (tag.as_str(), rest.as_slice()) {
            ("open", _) => Settled::Open,
            ("missing", _) => Settled::Missing,
            ("proceed" | "declined" | "ready_timeout", [now, record, answers @ ..]) => {
                Settled::Decided {
                    outcome: tag.clone(),
                    now: now == "1",
                    record: record.clone(),
                    answers: answers
                        .chunks_exact(2)
                        .map(|pair| (pair[0].clone(), pair[1].clone()))
                        .collect(),
                }
            }
            (other, _) => return Err(unexpected_reply("ready_settle.lua", other)),
        })
    }
}

/// The limits of a queue's ready check.
#[derive(Debug, Clone, Copy)]
pub struct ReadyRules {
    /// How long the players have to accept.
    pub window: Duration,
    /// How long a player who declined or did not answer may not queue.
    pub cooldown: Duration,
}

impl Matches {
    /// Hand-over with a ready check: the players are in the match and the record says
    /// `formed` (steps 1-2), then the check opens (once) and is indexed in the queue's
    /// slot, and every player is pushed `match.ready_check`. Idempotent.
    pub async fn start_ready_check(
        &self,
        record: &MatchRecord,
        live_match_ttl: Duration,
        window: Duration,
    ) -> Result<(), HandoverError> {
        let json = self.mark_formed(record, live_match_ttl).await?;
        let expires_ms = now_ms() + window.as_millis() as u64;
        let mut args = vec![
            expires_ms.to_string(),
            json,
            (window + KEPT_AFTER_EXPIRY).as_millis().to_string(),
        ];
        args.extend(record.players().map(|p| p.player.clone()));
        let opened = START
            .run(
                &self.redis,
                scripts::ready_check(&self.keys, &record.match_id),
                args,
            )
            .await?;
        // Indexed after it exists: the settle never finds an index entry without its check.
        self.index_ready_check(record, expires_ms).await?;
        if opened == 1 {
            metrics::counter!("rallypoint_ready_checks_total", "outcome" => "opened").increment(1);
            if let Some(check) = ready_check_message(record, expires_ms) {
                for player in record.players() {
                    self.push(&player.player, check.clone()).await;
                }
            }
        }
        Ok(())
    }

    /// If `record`'s match has a ready check (a hand-over redone after a crash): while it
    /// is open, indexed again and asked again of the players who have not answered (the
    /// first hand-over may have died before asking); settled, left alone. Whether it has
    /// one.
    pub async fn resume_ready_check(&self, record: &MatchRecord) -> Result<bool, HandoverError> {
        use fred::prelude::HashesInterface;
        let check: std::collections::HashMap<String, String> = self
            .redis
            .hgetall(self.keys.match_(&record.match_id).ready())
            .await?;
        if check.is_empty() {
            return Ok(false);
        }
        let expires_ms: u64 = check
            .get("expires_ms")
            .and_then(|e| e.parse().ok())
            .unwrap_or_default();
        if check.get("state").map(String::as_str) == Some("open") {
            self.index_ready_check(record, expires_ms).await?;
            if let Some(ask) = ready_check_message(record, expires_ms) {
                for player in record.players() {
                    let unanswered = check
                        .get(&format!("a:{}", player.player))
                        .is_some_and(String::is_empty);
                    if unanswered {
                        self.push(&player.player, ask.clone()).await;
                    }
                }
            }
        }
        Ok(true)
    }

    /// Lists `record`'s check in its queue's index, which the queue's holder settles from.
    async fn index_ready_check(
        &self,
        record: &MatchRecord,
        expires_ms: u64,
    ) -> Result<(), HandoverError> {
        let _: i64 = self
            .redis
            .zadd(
                self.keys
                    .queue(&record.queue, &record.region)
                    .ready_checks(),
                None,
                None,
                false,
                false,
                (expires_ms as f64, record.match_id.as_str()),
            )
            .await?;
        Ok(())
    }

    /// `player` accepts (or declines) `match_id`'s ready check; every player of the match
    /// is told the tally.
    pub async fn answer_ready_check(
        &self,
        player: &str,
        match_id: &str,
        accept: bool,
    ) -> Result<Answered, fred::error::Error> {
        let answer = if accept { "accepted" } else { "declined" };
        let answered = ANSWER
            .run(
                &self.redis,
                scripts::ready_check(&self.keys, match_id),
                vec![player.to_owned(), answer.to_owned(), now_ms().to_string()],
            )
            .await?;
        if let (
            Answered::Counted {
                accepted,
                total,
                players,
            },
            Ok(id),
        ) = (&answered, Id::parse(match_id))
        {
            let update = ServerMessage::MatchReadyUpdate {
                match_id: id,
                accepted: *accepted,
                total: *total,
                rid: None,
            };
            for other in players {
                self.push(other, update.clone()).await;
            }
        }
        Ok(answered)
    }

    /// The `match.ready_check` a reconnecting `player` is owed: the check of their live
    /// match, if it is open and they have not answered.
    pub async fn owed_ready_check(
        &self,
        player: &str,
        match_id: &str,
    ) -> Result<Option<ServerMessage>, fred::error::Error> {
        use fred::prelude::HashesInterface;
        let key = self.keys.match_(match_id).ready();
        let (state, expires_ms, record, answer): (
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<String>,
        ) = self
            .redis
            .hmget(
                key,
                vec!["state", "expires_ms", "record", &format!("a:{player}")],
            )
            .await?;
        let (Some("open"), Some(expires_ms), Some(record), Some("")) =
            (state.as_deref(), expires_ms, record, answer.as_deref())
        else {
            return Ok(None);
        };
        let Ok(record) = serde_json::from_str::<MatchRecord>(&record) else {
            return Ok(None);
        };
        Ok(ready_check_message(&record, expires_ms))
    }

    /// Decides the ready checks of `queue`/`region` that can be decided now (the
    /// matchmaker holding the queue, each tick). How many are still open.
    pub async fn settle_ready_checks(
        &self,
        queue: &str,
        region: &str,
        cooldown: Duration,
    ) -> Result<usize, HandoverError> {
        let index = self.keys.queue(queue, region).ready_checks();
        let ids: Vec<String> = self
            .redis
            .zrange(&index, 0, 255, None, false, None, false)
            .await?;
        let mut open = 0;
        // One hint for all the matches that go to the pool (`Matches::hint_pool`).
        let mut proceeded: Option<MatchRecord> = None;
        for match_id in ids {
            let settled = SETTLE
                .run(
                    &self.redis,
                    scripts::ready_check(&self.keys, &match_id),
                    vec![now_ms().to_string()],
                )
                .await?;
            let still_open = matches!(settled, Settled::Open);
            match settled {
                Settled::Open => open += 1,
                Settled::Missing => {}
                Settled::Decided {
                    outcome,
                    now,
                    record,
                    answers,
                } => {
                    if now {
                        // Counted once, by the settle that decided it (for the dashboard).
                        let _: i64 = fred::prelude::HashesInterface::hincrby(
                            &self.redis,
                            self.keys.queue(queue, region).stats(),
                            stats_field(&outcome),
                            1,
                        )
                        .await?;
                    }
                    let Ok(parsed) = serde_json::from_str::<MatchRecord>(&record) else {
                        tracing::error!(
                            match_id,
                            "a ready check holds an unreadable record; dropping it"
                        );
                        let _: i64 = self.redis.zrem(&index, &match_id).await?;
                        continue;
                    };
                    if outcome == "proceed" {
                        self.to_pool(&parsed, record).await?;
                        proceeded = Some(parsed);
                    } else {
                        self.cancel_ready_check(&parsed, &outcome, &answers, cooldown)
                            .await?;
                    }
                    metrics::counter!("rallypoint_ready_checks_total", "outcome" => outcome_label(&outcome)).increment(1);
                }
            }
            if !still_open {
                let _: i64 = self.redis.zrem(&index, &match_id).await?;
            }
        }
        if let Some(record) = proceeded {
            self.hint_pool(&record).await;
        }
        Ok(open)
    }

    /// A declined or expired check: the tickets whose every player accepted go back at
    /// their wait; the others' players are freed; who declined or did not answer cools
    /// down; everyone is told. Idempotent.
    async fn cancel_ready_check(
        &self,
        record: &MatchRecord,
        outcome: &str,
        answers: &[(String, String)],
        cooldown: Duration,
    ) -> Result<(), HandoverError> {
        let accepted = |player: &str| {
            answers
                .iter()
                .any(|(p, answer)| p == player && answer == "accepted")
        };
        // A ticket (a party) goes back only if all of its players accepted.
        let requeued: Vec<&str> = record
            .players()
            .map(|p| p.ticket.as_str())
            .filter(|ticket| {
                record
                    .players()
                    .filter(|p| p.ticket == *ticket)
                    .all(|p| accepted(&p.player))
            })
            .collect();
        let mut back = record.clone();
        back.teams = record
            .teams
            .iter()
            .map(|team| {
                team.iter()
                    .filter(|p| requeued.contains(&p.ticket.as_str()))
                    .cloned()
                    .collect()
            })
            .collect();
        self.tickets.requeue(&back).await?;
        let freed: Vec<&str> = record
            .players()
            .filter(|p| !requeued.contains(&p.ticket.as_str()))
            .map(|p| p.player.as_str())
            .collect();
        self.free_players(&record.match_id, freed.iter().copied())
            .await?;
        let until = now_ms() + cooldown.as_millis() as u64;
        for (player, answer) in answers {
            if answer != "accepted" {
                let _: () = self
                    .redis
                    .set(
                        self.keys.player(player).cooldown(),
                        until.to_string(),
                        Some(fred::types::Expiration::PX(cooldown.as_millis() as i64)),
                        None,
                        false,
                    )
                    .await?;
            }
        }
        let _: i64 = fred::prelude::HashesInterface::hset(
            &self.redis,
            self.keys.match_(&record.match_id).record(),
            [
                (field::STATE, MatchState::Cancelled.as_str()),
                (field::OUTCOME, outcome),
            ],
        )
        .await?;
        let why = if outcome == "declined" {
            reason::DECLINED
        } else {
            reason::READY_TIMEOUT
        };
        if let Ok(match_id) = Id::parse(&record.match_id) {
            for player in record.players() {
                let cancelled = ServerMessage::MatchCancelled {
                    match_id: match_id.clone(),
                    reason: why.to_owned(),
                    requeued: requeued.contains(&player.ticket.as_str()),
                };
                self.push(&player.player, cancelled).await;
            }
        }
        Ok(())
    }
}

/// The queue counter of a check's outcome.
fn stats_field(outcome: &str) -> &'static str {
    match outcome {
        "proceed" => "ready_accepted",
        "declined" => "ready_declined",
        _ => "ready_timeouts",
    }
}

fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "proceed" => "accepted",
        "declined" => "declined",
        _ => "timeout",
    }
}

/// The `match.ready_check` push for `record` (none if an id is invalid).
fn ready_check_message(record: &MatchRecord, expires_ms: u64) -> Option<ServerMessage> {
    Some(ServerMessage::MatchReadyCheck {
        match_id: Id::parse(&record.match_id).ok()?,
        queue: Id::parse(&record.queue).ok()?,
        region: Id::parse(&record.region).ok()?,
        teams: announce::teams(record)?,
        expires_ms,
    })
}
