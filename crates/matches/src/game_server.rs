//! What a game server asks or says about its matches: the assignments it has not taken
//! yet, the acknowledgement that starts a game, and the posted result that ends it.
//!
//! A server's own matches are in its region's pool; a match looked for elsewhere has its
//! region in its record (`{m:<match>}:record`, written by the hand-over). Only the server
//! a match was given to may act on it: the match keeps the hash of that server
//! incarnation's token, and every call is checked against it inside its script (a result
//! also before anything is written, since it marks the players first). A posted result
//! is looked up and, if its caller may post it, its match indexed as rating-pending in one
//! script (`pool_result_begin.lua`); then it takes the players out of the match and marks
//! their rating pending (one script per player slot), then frees the server's
//! slot and goes into the region's outbox in one script (`pool_result.lua`), counted once
//! however often it is posted, and is answered only once a replica has it. Results
//! posted together go through these steps side by side ([`Matches::post_results`]: the
//! pool groups them), one `WAIT` per region confirming the whole group. The
//! cache-warmer commits the outbox to PostgreSQL and clears the pending marks with the new
//! ratings; a join in between waits for them rather than queue at the old rating.

use core_keys::scripts;
use fred::prelude::{HashesInterface, SortedSetsInterface};
use fred::types::{FromValue, Value};
use proto::{Assignment, Id, MatchResult};
use queues::MatchRecord;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::state::{MatchState, field};
use crate::{Matches, ResultEntry};

static ACK: LuaScript<StateReply> = LuaScript::new(include_str!("game_server/pool_ack.lua"));
static RESULT_BEGIN: LuaScript<BegunFields> =
    LuaScript::new(include_str!("game_server/pool_result_begin.lua"));
static RESULT: LuaScript<ResultReply> = LuaScript::with_library(
    crate::SLOT_FREE,
    include_str!("game_server/pool_result.lua"),
);

/// What a game server's call about a match found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A repeated result: accepted, not counted again.
    Duplicate,
    /// A result other than the one recorded for the match: refused, nothing changes.
    Different,
    /// The pool knows no such match (or not on this server).
    Unknown,
    /// The result names a player who is not in the match.
    NotInMatch(String),
    /// The match is in another state (e.g. cancelled).
    Conflict(String),
    /// The match was given to another server (an earlier incarnation of this id is
    /// `Unauthorized` instead: its token no longer matches).
    NotYours,
    /// The caller's token is not the one of the server incarnation the match was given to.
    Unauthorized,
    /// Recorded, but no replica confirmed it in time: the caller should retry (the retry
    /// is answered as a duplicate once the write is confirmed).
    NotReplicated(crate::NotReplicated),
}

/// The game server making a call, as its credential names it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The region its token was issued in.
    pub region: &'a str,
    /// The server id its token was issued to.
    pub server: &'a str,
    /// SHA-256 (hex) of the token it sent, compared with the one kept on the match.
    pub token_hash: &'a str,
}

/// A posted result, and the server that left the pool with it (a draining server that
/// ran its last game): the pool forgets that server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub outcome: Outcome,
    pub server_left: Option<String>,
    /// The game had been ended as `server_lost` (its server was found dead while it
    /// ran); the result was recorded all the same.
    pub after_loss: bool,
}

/// A script's answer that is the state the match is in (or `unknown`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum StateReply {
    State(MatchState),
    Unknown,
    NotYours,
    Unauthorized,
}

impl FromValue for StateReply {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let name: String = value.convert()?;
        match (name.as_str(), MatchState::parse(&name)) {
            (_, Some(state)) => Ok(StateReply::State(state)),
            ("unknown", None) => Ok(StateReply::Unknown),
            ("not_yours", None) => Ok(StateReply::NotYours),
            ("unauthorized", None) => Ok(StateReply::Unauthorized),
            (other, None) => Err(unexpected_reply("match state", other)),
        }
    }
}

impl StateReply {
    /// The outcome of a call that found the match in this state instead.
    fn outcome(self) -> Outcome {
        match self {
            StateReply::Unknown => Outcome::Unknown,
            StateReply::NotYours => Outcome::NotYours,
            StateReply::Unauthorized => Outcome::Unauthorized,
            StateReply::State(other) => Outcome::Conflict(other.as_str().to_owned()),
        }
    }
}

/// A result a game server posted, one of a group [`Matches::post_results`] records.
#[derive(Debug, Clone, Copy)]
pub struct ResultPost<'a> {
    pub match_id: &'a str,
    pub caller: Caller<'a>,
    pub result: &'a MatchResult,
}

/// A result's steps done but its confirmation: the answer, and the region whose outbox
/// write a `WAIT` must confirm before it is given (none for a refused result).
struct Recorded {
    posted: Posted,
    confirm_in: Option<String>,
}

/// What `pool_result.lua` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ResultReply {
    Recorded { server_left: bool },
    RecordedAfterLoss,
    Duplicate,
    Different,
    Not(StateReply),
}

impl FromValue for ResultReply {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, _) = tagged(value)?;
        Ok(match tag.as_str() {
            "recorded" => ResultReply::Recorded { server_left: false },
            "recorded_server_left" => ResultReply::Recorded { server_left: true },
            "recorded_after_loss" => ResultReply::RecordedAfterLoss,
            "duplicate" => ResultReply::Duplicate,
            "different" => ResultReply::Different,
            other => ResultReply::Not(StateReply::from_value(Value::from(other))?),
        })
    }
}

/// A result's fingerprint: the same placements and stats posted again give the same one.
fn digest(result: &MatchResult) -> String {
    use sha2::Digest as _;
    // serde_json writes the fields in declaration order and object keys sorted.
    let bytes = serde_json::to_vec(result).unwrap_or_default();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fields of a match's pool hash [`Matches::locate`] reads, in its order.
type LocatedFields = (
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// What `pool_result_begin.lua` answers: 1 if the match went into the rating-pending
/// index, and the fields [`Matches::locate`] reads.
type BegunFields = (i64, LocatedFields);

/// Where a match lives in the pool.
pub(crate) struct Located {
    pub(crate) region: String,
    pub(crate) server: String,
    pub(crate) state: Option<MatchState>,
    started_ms: Option<u64>,
    pub(crate) record: Option<MatchRecord>,
    /// The hash of the token of the server incarnation it was given to.
    token_hash: Option<String>,
    /// Its server asked for a backfill at least once: its end closes the request.
    pub(crate) backfill_asked: bool,
}

impl Located {
    /// The match in `region` from its pool hash's fields, if it is there.
    fn from_fields(region: &str, fields: LocatedFields) -> Option<Self> {
        let (server, state, started_ms, record, token_hash, backfill_asked) = fields;
        server.map(|server| Located {
            region: region.to_owned(),
            server,
            state: state.as_deref().and_then(MatchState::parse),
            started_ms,
            record: record.and_then(|r| serde_json::from_str(&r).ok()),
            token_hash,
            backfill_asked: backfill_asked.is_some(),
        })
    }

    /// Why `caller` may not act on this match, if it may not.
    pub(crate) fn refuses(&self, caller: &Caller<'_>) -> Option<Outcome> {
        if caller.region != self.region || caller.server != self.server {
            return Some(Outcome::NotYours);
        }
        (self.token_hash.as_deref() != Some(caller.token_hash)).then_some(Outcome::Unauthorized)
    }
}

impl Matches {
    /// The match `match_id` as the pool has it, looked for first in the caller's region
    /// (one read: where a server's own match always is); only a match not there costs a
    /// second read, of the record's region, to tell another region's match (refused as
    /// not the caller's) from an unknown one.
    pub(crate) async fn locate(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
    ) -> Result<Option<Located>, fred::error::Error> {
        if let Some(found) = self.located_in(caller.region, match_id).await? {
            return Ok(Some(found));
        }
        self.located_elsewhere(match_id, caller).await
    }

    /// A match not in the caller's region: found in its record's region (and then refused
    /// as not the caller's), or unknown.
    async fn located_elsewhere(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
    ) -> Result<Option<Located>, fred::error::Error> {
        let region: Option<String> = self
            .redis
            .hget(self.keys.match_(match_id).record(), field::REGION)
            .await?;
        match region {
            Some(region) if region != caller.region => self.located_in(&region, match_id).await,
            _ => Ok(None),
        }
    }

    /// The match `match_id` in `region`'s pool, if it is there.
    async fn located_in(
        &self,
        region: &str,
        match_id: &str,
    ) -> Result<Option<Located>, fred::error::Error> {
        let fields: LocatedFields = self
            .redis
            .hmget(
                self.keys.pool(region).pool_match(match_id),
                vec![
                    field::SERVER,
                    field::STATE,
                    field::STARTED_MS,
                    field::RECORD,
                    field::SERVER_TOKEN_HASH,
                    field::BACKFILL_ASKED,
                ],
            )
            .await?;
        Ok(Located::from_fields(region, fields))
    }

    /// A result's first step (`pool_result_begin.lua`): the match as the caller's region
    /// has it and, if the caller may post its result and the game is on, the match in the
    /// region's rating-pending index, in one round trip. Whether it was indexed; a match
    /// not in the caller's region is looked for in its record's region.
    async fn begin_result(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
    ) -> Result<Option<(Located, bool)>, fred::error::Error> {
        let (indexed, fields) = RESULT_BEGIN
            .run(
                &self.redis,
                scripts::pool_result_begin(&self.keys, caller.region, match_id),
                vec![
                    caller.server.to_owned(),
                    caller.token_hash.to_owned(),
                    match_id.to_owned(),
                    now_ms().to_string(),
                ],
            )
            .await?;
        if let Some(found) = Located::from_fields(caller.region, fields) {
            return Ok(Some((found, indexed == 1)));
        }
        Ok(self
            .located_elsewhere(match_id, caller)
            .await?
            .map(|found| (found, false)))
    }

    /// The matches allocated to `server` that it has not acknowledged yet. Their records
    /// are read side by side (fred pipelines them: one round trip, not one per match).
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
        let records = ids.iter().map(|id| {
            self.redis
                .hget::<Option<String>, _, _>(pool.pool_match(id), field::RECORD)
        });
        let mut out = Vec::with_capacity(ids.len());
        for json in futures::future::try_join_all(records).await? {
            if let Some(assignment) = json.as_deref().and_then(assignment) {
                out.push(assignment);
            }
        }
        Ok(out)
    }

    /// The game server took its assignment: the game starts. One script in the caller's
    /// region, which checks the server and its token itself; only a match it does not
    /// find there costs a look-up, to tell another region's match from an unknown one.
    pub async fn ack(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
    ) -> Result<Outcome, fred::error::Error> {
        let state = ACK
            .run(
                &self.redis,
                scripts::pool_ack(&self.keys, caller.region, match_id, caller.server),
                vec![
                    match_id.to_owned(),
                    now_ms().to_string(),
                    caller.server.to_owned(),
                    caller.token_hash.to_owned(),
                ],
            )
            .await?;
        Ok(match state {
            StateReply::State(MatchState::Started) => Outcome::Done,
            StateReply::Unknown => match self.locate(match_id, caller).await? {
                Some(elsewhere) => elsewhere.refuses(caller).unwrap_or(Outcome::Unknown),
                None => Outcome::Unknown,
            },
            other => other.outcome(),
        })
    }

    /// Records a result, frees the slot, and frees the players to queue again: a group
    /// of one ([`Matches::post_results`]).
    pub async fn post_result(
        &self,
        match_id: &str,
        caller: &Caller<'_>,
        result: &MatchResult,
    ) -> Result<Posted, fred::error::Error> {
        let post = ResultPost {
            match_id,
            caller: *caller,
            result,
        };
        self.post_results(&[post]).await.pop().unwrap_or_else(|| {
            Err(fred::error::Error::new(
                fred::error::ErrorKind::Unknown,
                "a group of one result got no answer",
            ))
        })
    }

    /// Records a group of results together, an answer for each in their order. Every
    /// result takes its own steps (each as [`Matches::post_result`] describes), side by
    /// side, so each step of the whole group leaves in one write per Redis node; the
    /// results' outbox writes all go through one of the replicated-write clients, and one
    /// `WAIT` per region confirms them all (the one that counts for a game server's
    /// "recorded": docs/ARCHITECTURE.md, "Batch the round trips").
    pub async fn post_results(
        &self,
        posts: &[ResultPost<'_>],
    ) -> Vec<Result<Posted, fred::error::Error>> {
        let client = self.replicated.single();
        let recorded =
            futures::future::join_all(posts.iter().map(|post| self.record_result(post, client)))
                .await;
        // The regions whose outbox this group wrote to: one confirmation each.
        let mut regions: Vec<String> = recorded
            .iter()
            .filter_map(|r| r.as_ref().ok()?.confirm_in.clone())
            .collect();
        regions.sort_unstable();
        regions.dedup();
        let confirmations = futures::future::join_all(regions.iter().map(|region| {
            let key = self.keys.pool(region).results_outbox();
            async move { (region.as_str(), self.replicated.confirm(client, &key).await) }
        }))
        .await;
        recorded
            .into_iter()
            .zip(posts)
            .map(|(recorded, post)| {
                let Recorded { posted, confirm_in } = recorded?;
                let Some(region) = confirm_in else {
                    return Ok(posted);
                };
                match confirmations.iter().find(|(r, _)| *r == region.as_str()) {
                    Some((_, Ok(Ok(())))) => Ok(posted),
                    Some((_, Ok(Err(not_replicated)))) => {
                        tracing::warn!(match_id = post.match_id, error = %not_replicated, "a result is recorded but no replica confirmed it in time; the game server is told to retry");
                        Ok(Posted {
                            outcome: Outcome::NotReplicated(not_replicated.clone()),
                            ..posted
                        })
                    }
                    Some((_, Err(err))) => Err(err.clone()),
                    None => Err(fred::error::Error::new(
                        fred::error::ErrorKind::Unknown,
                        "a recorded result's region was not confirmed",
                    )),
                }
            })
            .collect()
    }

    /// A result's steps up to its confirmation: its outbox write (if it makes one) goes
    /// through `client`, which the caller then confirms.
    async fn record_result(
        &self,
        post: &ResultPost<'_>,
        client: &fred::prelude::Client,
    ) -> Result<Recorded, fred::error::Error> {
        let ResultPost {
            match_id,
            caller,
            result,
        } = *post;
        let answer = |outcome| Recorded {
            posted: Posted {
                outcome,
                server_left: None,
                after_loss: false,
            },
            confirm_in: None,
        };
        let Some((at, indexed)) = self.begin_result(match_id, &caller).await? else {
            return Ok(answer(Outcome::Unknown));
        };
        if let Some(refused) = at.refuses(&caller) {
            return Ok(answer(refused));
        }
        let record = at.record.as_ref();
        if let Some(record) = record {
            let stranger = result
                .placements
                .iter()
                .flatten()
                .find(|p| !record.players().any(|t| t.player == p.as_str()));
            if let Some(stranger) = stranger {
                if indexed {
                    // Nobody was marked: the index entry goes (the reconciler would drop
                    // it after its grace anyway).
                    let _: i64 = self
                        .redis
                        .zrem(self.keys.pool(&at.region).rating_pending(), match_id)
                        .await?;
                }
                return Ok(answer(Outcome::NotInMatch(stranger.to_string())));
            }
        }
        // Indexed by the first step when the game was on its server: now the marks.
        if let (true, Some(record)) = (indexed, record) {
            self.mark_players_rating_pending(match_id, players_of(record))
                .await?;
        }
        let now = now_ms();
        let entry = ResultEntry {
            match_id: match_id.to_owned(),
            region: at.region.clone(),
            server: at.server.clone(),
            started_ms: at.started_ms,
            ended_ms: now,
            placements: result
                .placements
                .iter()
                .map(|group| group.iter().map(ToString::to_string).collect())
                .collect(),
            stats: result.stats.clone(),
            record: at.record.clone(),
        };
        let entry = serde_json::to_string(&entry)
            .map_err(|e| fred::error::Error::new(fred::error::ErrorKind::Parse, e.to_string()))?;
        let reply = RESULT
            .run(
                client,
                scripts::pool_result(&self.keys, &at.region, match_id, &at.server),
                vec![
                    match_id.to_owned(),
                    at.server.clone(),
                    entry,
                    now.to_string(),
                    digest(result),
                    caller.token_hash.to_owned(),
                ],
            )
            .await?;
        let posted = self.recorded(match_id, &at, now, reply).await?;
        // Answered as recorded only once a replica has it: a failover then loses nothing
        // the game server was told is safe.
        let confirm_in =
            matches!(posted.outcome, Outcome::Done | Outcome::Duplicate).then(|| at.region.clone());
        Ok(Recorded { posted, confirm_in })
    }

    /// What `pool_result.lua`'s answer means, with the steps that follow it.
    async fn recorded(
        &self,
        match_id: &str,
        at: &Located,
        now: u64,
        reply: ResultReply,
    ) -> Result<Posted, fred::error::Error> {
        let answer = |outcome| Posted {
            outcome,
            server_left: None,
            after_loss: false,
        };
        let record = at.record.as_ref();
        match reply {
            ResultReply::Recorded { server_left } => {
                if let (true, Some(record)) = (at.backfill_asked, record) {
                    self.end_backfill(record).await;
                }
                // The record mirrors the pool hash for readers; the result is recorded
                // either way, and a server that left must still be forgotten.
                let mirrored: Result<i64, _> = self
                    .redis
                    .hset(
                        self.keys.match_(match_id).record(),
                        [
                            (field::STATE, MatchState::Ended.as_str()),
                            (field::ENDED_MS, now.to_string().as_str()),
                        ],
                    )
                    .await;
                if let Err(err) = mirrored {
                    tracing::warn!(match_id, error = %err, "the match record could not be marked ended (the result is recorded)");
                }
                metrics::counter!("rallypoint_pool_results_total").increment(1);
                Ok(Posted {
                    outcome: Outcome::Done,
                    server_left: server_left.then(|| at.server.clone()),
                    after_loss: false,
                })
            }
            // The game was played although its server was found dead meanwhile: its
            // players were freed then; the result is rated all the same.
            ResultReply::RecordedAfterLoss => {
                metrics::counter!("rallypoint_pool_results_total").increment(1);
                metrics::counter!("rallypoint_pool_results_after_loss_total").increment(1);
                tracing::info!(match_id, server = %at.server, "a result came for a game ended as server_lost; recorded");
                Ok(Posted {
                    outcome: Outcome::Done,
                    server_left: None,
                    after_loss: true,
                })
            }
            ResultReply::Different => Ok(answer(Outcome::Different)),
            // Posted before: counted once; the first post marked and freed the players.
            ResultReply::Duplicate => Ok(answer(Outcome::Duplicate)),
            // Gone or cancelled between the look-up and the script: nothing will be rated,
            // so the pending marks set above must not hold the players' next join back.
            // (On a Redis error the marks stay: the game server retries the post, which
            // either records the result or finds it recorded.)
            ResultReply::Not(state) => {
                let refused = matches!(state, StateReply::NotYours | StateReply::Unauthorized);
                if let (false, Some(record)) = (refused, record) {
                    self.free_players(match_id, players_of(record)).await?;
                }
                Ok(answer(state.outcome()))
            }
        }
    }
}

/// The player ids of a record.
pub(crate) fn players_of(record: &MatchRecord) -> impl Iterator<Item = &str> {
    record.players().map(|p| p.player.as_str())
}

/// The assignment a game server is told about, from the match as formed.
fn assignment(json: &str) -> Option<Assignment> {
    let record: MatchRecord = serde_json::from_str(json).ok()?;
    Some(Assignment {
        match_id: Id::parse(&record.match_id).ok()?,
        queue: Id::parse(&record.queue).ok()?,
        region: Id::parse(&record.region).ok()?,
        teams: crate::announce::teams(&record)?,
        secret_hint: None,
        backfilled: record
            .backfilled
            .iter()
            .filter_map(|p| Id::parse(p).ok())
            .collect(),
    })
}
