//! What the matchmaker instance holding a queue's lease does to the queue in Redis: take a
//! snapshot of it, take the changes since, claim the tickets of a match, expire a ticket,
//! and finish (or, after a crash, redo) the hand-over of claimed matches.
//!
//! Every step is a script on the queue's slot that first checks the caller still holds the
//! lease (fencing): an instance that paused past its lease cannot claim or expire anything.

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, KeysInterface, SortedSetsInterface};
use fred::types::{FromValue, Value};
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::members::{self, Member};
use crate::record::MatchRecord;
use crate::tickets::TicketError;

static SNAPSHOT: LuaScript<Fenced<Vec<String>>> =
    LuaScript::new(include_str!("holder/queue_snapshot.lua"));
static CHANGES: LuaScript<Fenced<Vec<String>>> =
    LuaScript::new(include_str!("holder/queue_changes.lua"));
/// The Lua functions both claims share (a new match's and a backfill's).
const CLAIM_LIB: &str = include_str!("holder/claim_lib.lua");
static CLAIM: LuaScript<Fenced<Claim>> =
    LuaScript::with_library(CLAIM_LIB, include_str!("holder/queue_claim.lua"));
static CLAIM_FILL: LuaScript<Fenced<FillClaim>> =
    LuaScript::with_library(CLAIM_LIB, include_str!("backfill/backfill_claim.lua"));
static EXPIRE: LuaScript<Fenced<Option<String>>> =
    LuaScript::new(include_str!("holder/queue_expire.lua"));

/// `{'not_holder'}`, or `{'ok', ...}`: what a fenced read answered.
impl FromValue for Fenced<Vec<String>> {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        match tagged(value)? {
            (tag, rest) if tag == "ok" => Ok(Fenced::Held(rest)),
            (tag, _) if tag == "not_holder" => Ok(Fenced::NotHolder),
            (tag, _) => Err(unexpected_reply("queue view", &tag)),
        }
    }
}

/// `queue_claim.lua`: `{'claimed'}`, `{'gone', ticket, ...}` or `{'not_holder'}`.
impl FromValue for Fenced<Claim> {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        match tagged(value)? {
            (tag, _) if tag == "claimed" => Ok(Fenced::Held(Claim::Claimed)),
            (tag, gone) if tag == "gone" => Ok(Fenced::Held(Claim::Gone(gone))),
            (tag, _) if tag == "not_holder" => Ok(Fenced::NotHolder),
            (tag, _) => Err(unexpected_reply("queue_claim.lua", &tag)),
        }
    }
}

/// `backfill_claim.lua`: `{'claimed', closed}`, `{'gone', ticket, ...}`, `{'cancelled'}`,
/// `{'changed'}` or `{'not_holder'}`.
impl FromValue for Fenced<FillClaim> {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        match tagged(value)? {
            (tag, rest) if tag == "claimed" => Ok(Fenced::Held(FillClaim::Claimed {
                closed: rest.first().is_some_and(|c| c == "1"),
            })),
            (tag, gone) if tag == "gone" => Ok(Fenced::Held(FillClaim::Gone(gone))),
            (tag, _) if tag == "cancelled" => Ok(Fenced::Held(FillClaim::Cancelled)),
            (tag, _) if tag == "changed" => Ok(Fenced::Held(FillClaim::Changed)),
            (tag, _) if tag == "not_holder" => Ok(Fenced::NotHolder),
            (tag, _) => Err(unexpected_reply("backfill_claim.lua", &tag)),
        }
    }
}

/// `queue_expire.lua`: `{'expired', player, enqueued_ms}`, `{'gone'}` or `{'not_holder'}`.
impl FromValue for Fenced<Option<String>> {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        match tagged(value)? {
            (tag, rest) if tag == "expired" => Ok(Fenced::Held(rest.into_iter().next())),
            (tag, _) if tag == "gone" => Ok(Fenced::Held(None)),
            (tag, _) if tag == "not_holder" => Ok(Fenced::NotHolder),
            (tag, _) => Err(unexpected_reply("queue_expire.lua", &tag)),
        }
    }
}

/// A queued ticket as the holder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedTicket {
    pub id: String,
    /// Who it seats: one player, or a party (its leader first), each at their rating.
    pub members: Vec<Member>,
    /// The rating it is matched at (a party's: its members' mean, or their max).
    pub rating: f64,
    pub enqueued_ms: u64,
    /// The `traceparent` of the `queue.join` that queued it, when traced (from the change
    /// log, as an optional last field that older readers ignore; a snapshot does not
    /// carry it).
    pub trace: Option<String>,
}

impl QueuedTicket {
    /// The player who queued it (a party's leader).
    pub fn leader(&self) -> &str {
        self.members.first().map_or("", |m| m.player.as_str())
    }

    /// How many players it seats.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Whether it seats `player`.
    pub fn seats(&self, player: &str) -> bool {
        self.members.iter().any(|m| m.player == player)
    }
}

/// One change to a queue since the last look.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Joined(QueuedTicket),
    Left(String),
    /// A match asked for players, or asked again (its open request is to be read anew).
    BackfillRequested(String),
    /// A match's backfill ended (cancelled, or the match ended).
    BackfillClosed(String),
}

/// The answer of a fenced step: done, or the caller no longer holds the lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Fenced<T> {
    Held(T),
    NotHolder,
}

/// What claiming a match did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// These tickets were no longer queued (left, or expired); nothing was claimed.
    Gone(Vec<String>),
}

/// What claiming players for a backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillClaim {
    /// Claimed; `closed` when the request wants nobody more (it is gone).
    Claimed { closed: bool },
    /// These tickets were no longer queued; nothing was claimed.
    Gone(Vec<String>),
    /// The request is no longer open under that id (cancelled, replaced, match ended).
    Cancelled,
    /// The request wants fewer players on a team now than the fill would seat.
    Changed,
}

/// Why a ticket is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireReason {
    /// It waited longer than the queue's maximum.
    Timeout,
    /// Its player has had no session for longer than the grace.
    Abandoned,
}

impl ExpireReason {
    fn counter(self) -> &'static str {
        match self {
            ExpireReason::Timeout => "timeouts",
            ExpireReason::Abandoned => "abandoned",
        }
    }
}

/// The holder's handle on one queue-region.
#[derive(Debug, Clone)]
pub struct QueueHolder {
    keys: Keys,
    redis: Client,
    queue: String,
    region: String,
    /// The holder's lease owner token.
    owner: String,
}

impl QueueHolder {
    pub fn new(keys: Keys, redis: Client, queue: &str, region: &str, owner: &str) -> Self {
        Self {
            keys,
            redis,
            queue: queue.to_owned(),
            region: region.to_owned(),
            owner: owner.to_owned(),
        }
    }

    /// Every queued ticket, oldest first; the change log starts afresh.
    pub async fn snapshot(&self) -> Result<Fenced<Vec<QueuedTicket>>, TicketError> {
        let reply = SNAPSHOT
            .run(
                &self.redis,
                scripts::queue_view(&self.keys, &self.queue, &self.region),
                vec![self.owner.clone()],
            )
            .await?;
        let Fenced::Held(rest) = reply else {
            return Ok(Fenced::NotHolder);
        };
        let tickets = rest
            .chunks_exact(4)
            .filter_map(|c| {
                let rating = c[2].parse().ok()?;
                Some(QueuedTicket {
                    id: c[0].clone(),
                    members: members::parse(&c[1], rating)?,
                    rating,
                    enqueued_ms: c[3].parse::<f64>().ok()? as u64,
                    // Not kept in the index (an older matchmaker reads its values as
                    // player ids): a resync keeps what the change log gave
                    // (the matchmaker's `Mirror::keep_traces`).
                    trace: None,
                })
            })
            .collect();
        Ok(Fenced::Held(tickets))
    }

    /// The joins and leaves since the last snapshot or take, in order.
    pub async fn changes(&self) -> Result<Fenced<Vec<Change>>, TicketError> {
        let reply = CHANGES
            .run(
                &self.redis,
                scripts::queue_changes(&self.keys, &self.queue, &self.region),
                vec![self.owner.clone()],
            )
            .await?;
        let Fenced::Held(rest) = reply else {
            return Ok(Fenced::NotHolder);
        };
        Ok(Fenced::Held(
            rest.iter().filter_map(|c| parse_change(c)).collect(),
        ))
    }

    /// Claims the tickets of `record`, all or none.
    pub async fn claim(&self, record: &MatchRecord) -> Result<Fenced<Claim>, TicketError> {
        let ids = ticket_ids(record);
        let json = encode_record(record)?;
        let mut args = vec![
            self.owner.clone(),
            record.match_id.clone(),
            record.formed_ms.to_string(),
            json,
        ];
        args.extend(ids.iter().map(|id| (*id).to_owned()));
        Ok(CLAIM
            .run(
                &self.redis,
                scripts::queue_claim(
                    &self.keys,
                    &self.queue,
                    &self.region,
                    &record.match_id,
                    &ids,
                ),
                args,
            )
            .await?)
    }

    /// Claims the tickets of `fill` (a backfill's claim: [`MatchRecord::fill`] set, the
    /// new players on the teams they join) for the open request `backfill`, all or none.
    pub async fn claim_fill(
        &self,
        fill: &MatchRecord,
        backfill: &crate::backfill::OpenBackfill,
    ) -> Result<Fenced<FillClaim>, TicketError> {
        let ids = ticket_ids(fill);
        let json = encode_record(fill)?;
        let seated: Vec<String> = fill
            .teams
            .iter()
            .enumerate()
            .filter(|(_, team)| !team.is_empty())
            .map(|(team, seats)| format!("{team}:{}", seats.len()))
            .collect();
        let mut args = vec![
            self.owner.clone(),
            fill.claim_id().to_owned(),
            fill.formed_ms.to_string(),
            json,
            fill.match_id.clone(),
            backfill.id.clone(),
            seated.join(","),
        ];
        args.extend(ids.iter().map(|id| (*id).to_owned()));
        Ok(CLAIM_FILL
            .run(
                &self.redis,
                scripts::backfill_claim(
                    &self.keys,
                    &self.queue,
                    &self.region,
                    fill.claim_id(),
                    &fill.match_id,
                    &ids,
                ),
                args,
            )
            .await?)
    }

    /// Removes a queued ticket for good; the player it belonged to, if it was still queued.
    pub async fn expire(
        &self,
        ticket: &str,
        reason: ExpireReason,
    ) -> Result<Fenced<Option<String>>, TicketError> {
        Ok(EXPIRE
            .run(
                &self.redis,
                scripts::queue_expire(&self.keys, &self.queue, &self.region, ticket),
                vec![
                    self.owner.clone(),
                    ticket.to_owned(),
                    reason.counter().to_owned(),
                ],
            )
            .await?)
    }

    /// Claimed matches whose hand-over was not finished `older_than_ms` after the claim
    /// (the instance doing it died): their records, to hand over again.
    pub async fn unfinished(
        &self,
        older_than_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<MatchRecord>, TicketError> {
        let q = self.keys.queue(&self.queue, &self.region);
        let ids: Vec<String> = self
            .redis
            .zrangebyscore(
                q.claimed(),
                "-inf",
                now_ms.saturating_sub(older_than_ms) as f64,
                false,
                Some((0, 100)),
            )
            .await?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let json: Option<String> = self.redis.hget(q.claimed_match(&id), "record").await?;
            match json.as_deref().map(serde_json::from_str::<MatchRecord>) {
                Some(Ok(record)) => records.push(record),
                // The record lapsed or is unreadable: nothing left to hand over.
                _ => {
                    let _: i64 = self.redis.zrem(q.claimed(), &id).await?;
                }
            }
        }
        Ok(records)
    }

    /// Marks the hand-overs of `claims` done (each a [`MatchRecord::claim_id`]): out of
    /// the claimed set, then their hashes deleted, in one round trip (one slot, in order)
    /// however many there are.
    pub async fn finish(&self, claims: &[&str]) -> Result<(), TicketError> {
        if claims.is_empty() {
            return Ok(());
        }
        let q = self.keys.queue(&self.queue, &self.region);
        let hashes: Vec<String> = claims.iter().map(|c| q.claimed_match(c)).collect();
        let pipeline = self.redis.pipeline();
        let _: () = pipeline.zrem(q.claimed(), claims.to_vec()).await?;
        let _: () = pipeline.del(hashes).await?;
        let _: (i64, i64) = pipeline.all().await?;
        Ok(())
    }

    /// Queued tickets right now (for stats).
    pub async fn size(&self) -> Result<u64, TicketError> {
        let q = self.keys.queue(&self.queue, &self.region);
        Ok(self.redis.zcard(q.waiting()).await?)
    }
}

/// The tickets `record` claims, each once (a party's members share one ticket).
fn ticket_ids(record: &MatchRecord) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for seat in record.players() {
        if !ids.contains(&seat.ticket.as_str()) {
            ids.push(seat.ticket.as_str());
        }
    }
    ids
}

fn encode_record(record: &MatchRecord) -> Result<String, TicketError> {
    serde_json::to_string(record).map_err(|e| TicketError::Protocol {
        script: "queue_claim",
        reply: e.to_string(),
    })
}

fn parse_change(raw: &str) -> Option<Change> {
    let mut parts = raw.split(' ');
    match parts.next()? {
        "j" => {
            let id = parts.next()?.to_owned();
            let rating = parts.next()?.parse().ok()?;
            let enqueued_ms = parts.next()?.parse().ok()?;
            let members = members::parse(parts.next()?, rating)?;
            Some(Change::Joined(QueuedTicket {
                id,
                members,
                rating,
                enqueued_ms,
                trace: parts.next().map(str::to_owned),
            }))
        }
        "l" => Some(Change::Left(parts.next()?.to_owned())),
        "b" => Some(Change::BackfillRequested(parts.next()?.to_owned())),
        "bx" => Some(Change::BackfillClosed(parts.next()?.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse() {
        assert_eq!(
            parse_change("j t1 1512.5 1700000000000 alice"),
            Some(Change::Joined(QueuedTicket {
                id: "t1".into(),
                members: vec![Member {
                    player: "alice".into(),
                    rating: 1512.5
                }],
                rating: 1512.5,
                enqueued_ms: 1_700_000_000_000,
                trace: None,
            }))
        );
        // A traced join carries the traceparent of its `queue.join` as a fifth field.
        let traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        match parse_change(&format!("j t1 1512.5 1700000000000 alice {traced}")) {
            Some(Change::Joined(ticket)) => assert_eq!(ticket.trace.as_deref(), Some(traced)),
            other => panic!("not a join: {other:?}"),
        }
        // A party names its members, each at their own rating.
        match parse_change("j t2 1550 1700000000000 alice=1500,bob=1600") {
            Some(Change::Joined(ticket)) => {
                assert_eq!(ticket.members.len(), 2);
                assert_eq!(ticket.members[1].rating, 1600.0);
                assert_eq!(ticket.rating, 1550.0);
            }
            other => panic!("not a join: {other:?}"),
        }
        assert_eq!(parse_change("l t1"), Some(Change::Left("t1".into())));
        assert_eq!(
            parse_change("b m1"),
            Some(Change::BackfillRequested("m1".into()))
        );
        assert_eq!(
            parse_change("bx m1"),
            Some(Change::BackfillClosed("m1".into()))
        );
        assert_eq!(parse_change("x"), None);
        assert_eq!(parse_change("j t1 nan?"), None);
    }
}
