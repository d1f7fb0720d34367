//! Backfill: a game server asks for players for its running match and gets them from the
//! match's queue, with their own `match.found` for the same match and server.
//!
//! 1. The request ([`Matches::request_backfill`], `POST /v1/matches/{match}/backfill`):
//!    only the server the match was given to may ask, while the match is on it. It is
//!    kept in the match's queue-region with each team's mean rating
//!    ([`queues::backfill`]); a new request replaces the open one. The match's pool hash
//!    is marked first (`pool_backfill_mark.lua`): only a marked match's end has a
//!    request to close, so the matches never backfilled (nearly all) end without that
//!    step.
//! 2. The fill: the matchmaker holding the queue takes the nearest ratings to the team's
//!    mean and claims them like a match (`backfill_claim.lua`: a ticket goes to a new
//!    match or to a backfill, never both), then hands the fill to the match's region
//!    ([`Matches::pend_fill`]: the players' live match, `pool_fill_pend.lua`, a hint).
//! 3. The region's allocator adds the players to the match ([`Matches::apply_fills`],
//!    `pool_backfill.lua`): they join their teams and the record's `backfilled`, and the
//!    match goes back into its server's assignments; then it announces them
//!    ([`crate::Announcer::announce_fills`]).
//!
//! A fill whose match is no longer on its server is undone: its tickets go back to the
//! queue at their original wait, and the request is closed. A request also ends when it
//! is filled, when the server cancels it ([`Matches::cancel_backfill`]), and when the
//! match ends ([`Matches::end_backfill`]).

use std::collections::BTreeMap;
use std::time::Duration;

use core_keys::scripts;
use fred::prelude::{HashesInterface, SortedSetsInterface};
use proto::{BackfillRequest, Event, Id};
use queues::{CloseReason, MatchRecord, OpenBackfill};
use service_runtime::clock::now_ms;
use service_runtime::script::LuaScript;

use crate::game_server::{Caller, Outcome};
use crate::state::{MatchState, field};
use crate::{HandoverError, Matches};

static POOL_BACKFILL_MARK: LuaScript<i64> =
    LuaScript::new(include_str!("backfill/pool_backfill_mark.lua"));
static POOL_FILL_PEND: LuaScript<i64> = LuaScript::new(include_str!("backfill/pool_fill_pend.lua"));
static POOL_BACKFILL: LuaScript<String> =
    LuaScript::new(include_str!("backfill/pool_backfill.lua"));

/// Times a fill is merged again when another fill of the same match changed its record
/// in between.
const MERGE_ATTEMPTS: usize = 8;

/// What a game server's backfill call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackfillAnswer {
    /// The request is open under this id.
    Accepted(String),
    /// The slots do not fit the match's teams: why.
    BadSlots(String),
    /// The server cancelled the open request.
    Cancelled,
    /// No request is open for the match.
    NoneOpen,
    /// Not the caller's match, unknown, or not running.
    Refused(Outcome),
}

/// Players added to a running match, to announce.
#[derive(Debug, Clone)]
pub struct Fill {
    pub fill_id: String,
    pub match_id: String,
    pub server: String,
    pub address: String,
    /// The players the fill added.
    pub players: Vec<String>,
    /// The match as it is now (with them).
    pub record: MatchRecord,
}

/// What adding one fill to its match did.
enum Merged {
    Added(Box<Fill>),
    /// The match is not on its server any more (ended, cancelled): the state it is in.
    Refused(String),
}

impl Matches {
    /// A game server asks for players for its running match `match_id`.
    pub async fn request_backfill(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
        request: &BackfillRequest,
    ) -> Result<BackfillAnswer, fred::error::Error> {
        let Some(at) = self.locate(match_id, caller).await? else {
            return Ok(BackfillAnswer::Refused(Outcome::Unknown));
        };
        if let Some(refused) = at.refuses(caller) {
            return Ok(BackfillAnswer::Refused(refused));
        }
        match at.state {
            Some(state) if state.is_on_server() => {}
            Some(state) => {
                return Ok(BackfillAnswer::Refused(Outcome::Conflict(
                    state.as_str().to_owned(),
                )));
            }
            None => return Ok(BackfillAnswer::Refused(Outcome::Unknown)),
        }
        let Some(record) = at.record.as_ref() else {
            return Ok(BackfillAnswer::Refused(Outcome::Unknown));
        };
        let mut wanted = BTreeMap::new();
        for (i, slot) in request.slots.iter().enumerate() {
            let team = slot.team as usize;
            let Some(members) = record.teams.get(team) else {
                return Ok(BackfillAnswer::BadSlots(format!(
                    "slots[{i}].team: match {match_id} has teams 0..={}",
                    record.teams.len().saturating_sub(1)
                )));
            };
            if slot.count as usize > members.len() {
                return Ok(BackfillAnswer::BadSlots(format!(
                    "slots[{i}].count: team {team} has {} seats; at most that many may be backfilled",
                    members.len()
                )));
            }
            wanted.insert(team, slot.count as usize);
        }
        let means = record
            .teams
            .iter()
            .map(|team| {
                let sum: f64 = team.iter().map(|seat| seat.rating).sum();
                if team.is_empty() {
                    0.0
                } else {
                    sum / team.len() as f64
                }
            })
            .collect();
        let open = OpenBackfill {
            match_id: match_id.to_owned(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            server: at.server.clone(),
            requested_ms: now_ms(),
            means,
            wanted,
        };
        // Marked before it opens, so an end that comes after the request sees the mark
        // and closes it (one that slips in between is caught when a fill is applied: a
        // fill for an ended match is undone and its request closed).
        let marked = POOL_BACKFILL_MARK
            .run(
                &self.redis,
                scripts::pool_backfill_mark(&self.keys, &at.region, match_id),
                (),
            )
            .await?;
        if marked == 0 {
            return Ok(BackfillAnswer::Refused(Outcome::Unknown));
        }
        self.backfills
            .open(&record.queue, &record.region, &open)
            .await?;
        metrics::counter!("rallypoint_backfill_requests_total").increment(1);
        tracing::info!(match_id, backfill = %open.id, players = open.still_wanted(), "a game server asked for backfill");
        Ok(BackfillAnswer::Accepted(open.id))
    }

    /// The game server cancels its match's open backfill: nobody more is taken.
    pub async fn cancel_backfill(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
    ) -> Result<BackfillAnswer, fred::error::Error> {
        let Some(at) = self.locate(match_id, caller).await? else {
            return Ok(BackfillAnswer::Refused(Outcome::Unknown));
        };
        if let Some(refused) = at.refuses(caller) {
            return Ok(BackfillAnswer::Refused(refused));
        }
        let Some(record) = at.record.as_ref().filter(|_| at.backfill_asked) else {
            return Ok(BackfillAnswer::NoneOpen);
        };
        let closed = self
            .backfills
            .close(
                &record.queue,
                &record.region,
                match_id,
                CloseReason::Cancelled,
            )
            .await?;
        Ok(if closed {
            BackfillAnswer::Cancelled
        } else {
            BackfillAnswer::NoneOpen
        })
    }

    /// The match of `record` ended (or will not run): its open backfill, if any, ends
    /// too. A failure is logged: a fill for an ended match is undone when it is applied.
    pub async fn end_backfill(&self, record: &MatchRecord) {
        if let Err(err) = self
            .backfills
            .close(
                &record.queue,
                &record.region,
                &record.match_id,
                CloseReason::MatchEnded,
            )
            .await
        {
            tracing::warn!(match_id = %record.match_id, error = %err, "could not close the ended match's backfill; a fill for it is undone when it comes");
        }
    }

    /// Hands a claimed fill (`fill.fill` set) to its match's region: the players are in
    /// the match (their live-match marker), the region has the fill once, and its
    /// allocator is told. Idempotent, so a hand-over can be redone after a crash.
    pub async fn pend_fill(
        &self,
        fill: &MatchRecord,
        live_match_ttl: Duration,
    ) -> Result<(), HandoverError> {
        self.players_matched(fill, live_match_ttl).await?;
        let json = serde_json::to_string(fill).map_err(|e| HandoverError::Encode(e.to_string()))?;
        let _pended_now = POOL_FILL_PEND
            .run(
                &self.redis,
                scripts::pool_fill_pend(&self.keys, &fill.region),
                vec![fill.claim_id().to_owned(), json, fill.formed_ms.to_string()],
            )
            .await?;
        if let (Ok(match_id), Ok(region)) = (Id::parse(&fill.match_id), Id::parse(&fill.region)) {
            let event = Event::MatchBackfilled { match_id, region };
            self.publisher
                .publish_event(&self.keys.pool(&fill.region).events_channel(), event)
                .await;
        }
        Ok(())
    }

    /// Adds up to `batch` of the region's pending fills to their matches: the fills
    /// added (to announce, then [`Matches::fills_done`]). A fill whose match is no longer
    /// on its server is undone (tickets back in the queue at their wait, the request
    /// closed) and leaves the set.
    pub async fn apply_fills(
        &self,
        region: &str,
        batch: i64,
    ) -> Result<Vec<Fill>, fred::error::Error> {
        let pool = self.keys.pool(region);
        let ids: Vec<String> = self
            .redis
            .zrange(pool.fills(), 0, batch - 1, None, false, None, false)
            .await?;
        let mut added = Vec::with_capacity(ids.len());
        for fill_id in ids {
            let json: Option<String> = self.redis.hget(pool.fill_records(), &fill_id).await?;
            let Some(fill) = json.and_then(|j| serde_json::from_str::<MatchRecord>(&j).ok()) else {
                self.fills_done(region, std::slice::from_ref(&fill_id))
                    .await?;
                continue;
            };
            match self.merge_fill(region, &fill).await? {
                Merged::Added(done) => added.push(*done),
                Merged::Refused(state) => {
                    if let Err(err) = self.tickets.requeue(&fill).await {
                        tracing::warn!(match_id = %fill.match_id, error = %err, "could not requeue a fill its match could not take; retrying");
                        continue;
                    }
                    self.end_backfill(&fill).await;
                    metrics::counter!("rallypoint_backfill_fills_undone_total").increment(1);
                    tracing::info!(match_id = %fill.match_id, state, "a backfill's match is no longer running; its players went back to the queue");
                    self.fills_done(region, std::slice::from_ref(&fill_id))
                        .await?;
                }
            }
        }
        Ok(added)
    }

    /// Merges `fill`'s players into their match, once.
    async fn merge_fill(
        &self,
        region: &str,
        fill: &MatchRecord,
    ) -> Result<Merged, fred::error::Error> {
        let key = self.keys.pool(region).pool_match(&fill.match_id);
        let players: Vec<String> = fill.players().map(|s| s.player.clone()).collect();
        for _ in 0..MERGE_ATTEMPTS {
            let (state, server, address, current): (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            ) = self
                .redis
                .hmget(
                    &key,
                    vec![field::STATE, field::SERVER, field::ADDRESS, field::RECORD],
                )
                .await?;
            let on_server = state
                .as_deref()
                .and_then(MatchState::parse)
                .is_some_and(MatchState::is_on_server);
            let (true, Some(server), Some(address), Some(current)) =
                (on_server, server, address, current)
            else {
                return Ok(Merged::Refused(state.unwrap_or_else(|| "unknown".into())));
            };
            let Ok(mut record) = serde_json::from_str::<MatchRecord>(&current) else {
                return Ok(Merged::Refused("unreadable".into()));
            };
            merge(&mut record, fill);
            let merged = serde_json::to_string(&record).map_err(|e| {
                fred::error::Error::new(fred::error::ErrorKind::Parse, e.to_string())
            })?;
            let reply = POOL_BACKFILL
                .run(
                    self.replicated.batches(),
                    scripts::pool_backfill(&self.keys, region, &fill.match_id, &server),
                    vec![
                        fill.match_id.clone(),
                        fill.claim_id().to_owned(),
                        current,
                        merged,
                        players.join(","),
                        now_ms().to_string(),
                        server.clone(),
                    ],
                )
                .await?;
            match reply.as_str() {
                "added" => {
                    return Ok(Merged::Added(Box::new(Fill {
                        fill_id: fill.claim_id().to_owned(),
                        match_id: fill.match_id.clone(),
                        server,
                        address,
                        players,
                        record,
                    })));
                }
                // Another fill of this match got there first: read it again.
                "changed" => continue,
                other => return Ok(Merged::Refused(other.to_owned())),
            }
        }
        Err(fred::error::Error::new(
            fred::error::ErrorKind::Unknown,
            "a backfill's match kept changing; retrying later",
        ))
    }

    /// The fills `ids` are done (announced, or undone): out of the region's set.
    pub async fn fills_done(&self, region: &str, ids: &[String]) -> Result<(), fred::error::Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let pool = self.keys.pool(region);
        let _: i64 = self.redis.zrem(pool.fills(), ids.to_vec()).await?;
        let _: i64 = self.redis.hdel(pool.fill_records(), ids.to_vec()).await?;
        Ok(())
    }
}

/// Adds `fill`'s players to `record` on their teams and to its `backfilled`, once each.
pub fn merge(record: &mut MatchRecord, fill: &MatchRecord) {
    for (team, seats) in fill.teams.iter().enumerate() {
        for seat in seats {
            if record.players().any(|p| p.player == seat.player) {
                continue;
            }
            while record.teams.len() <= team {
                record.teams.push(Vec::new());
            }
            record.teams[team].push(seat.clone());
            record.backfilled.push(seat.player.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queues::MatchedTicket;

    fn seat(player: &str, rating: f64) -> MatchedTicket {
        MatchedTicket {
            ticket: format!("t-{player}"),
            player: player.to_owned(),
            rating,
            enqueued_ms: 1,
            ticket_rating: None,
        }
    }

    fn record(teams: Vec<Vec<MatchedTicket>>) -> MatchRecord {
        MatchRecord {
            match_id: "m1".into(),
            queue: "squad".into(),
            region: "eu".into(),
            formed_ms: 1,
            teams,
            trace: None,
            fill: None,
            backfilled: Vec::new(),
        }
    }

    #[test]
    fn a_fill_joins_its_team_once() {
        let mut running = record(vec![
            vec![seat("a", 1500.0), seat("b", 1500.0)],
            vec![seat("c", 1500.0)],
        ]);
        let mut fill = record(vec![vec![], vec![seat("d", 1510.0)]]);
        fill.fill = Some("f1".into());
        merge(&mut running, &fill);
        assert_eq!(running.teams[1].len(), 2);
        assert_eq!(running.teams[1][1].player, "d");
        assert_eq!(running.backfilled, vec!["d".to_owned()]);
        // Merged again (a redone step): nothing changes.
        merge(&mut running, &fill);
        assert_eq!(running.players().count(), 4);
        assert_eq!(running.backfilled.len(), 1);
    }
}
