//! Backfill requests as a queue keeps them: a game server asks for players for its running
//! match, and the request waits in the match's queue-region (`{q:<queue>:<region>}:
//! backfill:<match>`, indexed by `backfills`) until the matchmaker holding the queue fills
//! it from the queue, the server cancels it, or the match ends.
//!
//! The request lives in the queue's slot so that filling it is one script with the claim
//! of the tickets (`backfill_claim.lua`, beside [`crate::holder`]): a ticket goes to a new
//! match or to a backfill, never both, and a cancelled request takes nobody. Opening and
//! closing a request are written to the queue's change log, so the holder learns of them
//! at its next tick without reading anything more while nobody asks.

use std::collections::BTreeMap;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, HashesInterface, SortedSetsInterface};
use service_runtime::script::LuaScript;

static REQUEST: LuaScript<i64> = LuaScript::new(include_str!("backfill/backfill_request.lua"));
static CLOSE: LuaScript<i64> = LuaScript::new(include_str!("backfill/backfill_close.lua"));

/// How long a request is kept at most (a match's end closes it long before).
const REQUEST_TTL_MS: u64 = 24 * 3600 * 1000;

/// An open backfill request, as the queue's holder fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenBackfill {
    /// The running match.
    pub match_id: String,
    /// The request's id (a new request for the match replaces it, under a new id).
    pub id: String,
    /// The server the match runs on (only it may ask).
    pub server: String,
    /// When it was asked, ms since the epoch: its rating window widens from then.
    pub requested_ms: u64,
    /// Each team's mean rating when it was asked, team 0 first.
    pub means: Vec<f64>,
    /// Players still wanted, by team.
    pub wanted: BTreeMap<usize, usize>,
}

impl OpenBackfill {
    /// Players still wanted on every team together.
    pub fn still_wanted(&self) -> usize {
        self.wanted.values().sum()
    }

    fn parse(match_id: &str, fields: &BTreeMap<String, String>) -> Option<Self> {
        let mut wanted = BTreeMap::new();
        for (field, value) in fields {
            if let Some(team) = field.strip_prefix("want:") {
                let count: i64 = value.parse().ok()?;
                if count > 0 {
                    wanted.insert(team.parse().ok()?, count as usize);
                }
            }
        }
        Some(OpenBackfill {
            match_id: match_id.to_owned(),
            id: fields.get("id")?.clone(),
            server: fields.get("server")?.clone(),
            requested_ms: fields.get("requested_ms")?.parse().ok()?,
            means: fields
                .get("means")?
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?,
            wanted,
        })
    }
}

/// Why a backfill ends without being filled, as the queue's counters count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server cancelled it.
    Cancelled,
    /// The match ended (a result, its server lost) or could not take the players.
    MatchEnded,
}

impl CloseReason {
    fn counter(self) -> &'static str {
        match self {
            CloseReason::Cancelled => "backfills_cancelled",
            CloseReason::MatchEnded => "",
        }
    }
}

/// The backfill requests of every queue-region.
#[derive(Debug, Clone)]
pub struct Backfills {
    keys: Keys,
    redis: Client,
}

impl Backfills {
    pub fn new(keys: Keys, redis: Client) -> Self {
        Self { keys, redis }
    }

    /// Opens (or replaces) `request`'s match's backfill in its queue-region.
    pub async fn open(
        &self,
        queue: &str,
        region: &str,
        request: &OpenBackfill,
    ) -> Result<(), fred::error::Error> {
        let means: Vec<String> = request.means.iter().map(f64::to_string).collect();
        let mut args = vec![
            request.match_id.clone(),
            request.id.clone(),
            request.server.clone(),
            request.requested_ms.to_string(),
            means.join(","),
            REQUEST_TTL_MS.to_string(),
        ];
        for (team, count) in &request.wanted {
            args.push(team.to_string());
            args.push(count.to_string());
        }
        REQUEST
            .run(
                &self.redis,
                scripts::queue_backfill(&self.keys, queue, region, &request.match_id),
                args,
            )
            .await?;
        Ok(())
    }

    /// Closes `match_id`'s open backfill, if any: whether one was open.
    pub async fn close(
        &self,
        queue: &str,
        region: &str,
        match_id: &str,
        reason: CloseReason,
    ) -> Result<bool, fred::error::Error> {
        let closed = CLOSE
            .run(
                &self.redis,
                scripts::queue_backfill(&self.keys, queue, region, match_id),
                vec![match_id.to_owned(), reason.counter().to_owned()],
            )
            .await?;
        Ok(closed == 1)
    }

    /// `match_id`'s open backfill in the queue-region, if any.
    pub async fn get(
        &self,
        queue: &str,
        region: &str,
        match_id: &str,
    ) -> Result<Option<OpenBackfill>, fred::error::Error> {
        let fields: BTreeMap<String, String> = self
            .redis
            .hgetall(self.keys.queue(queue, region).backfill(match_id))
            .await?;
        Ok(OpenBackfill::parse(match_id, &fields))
    }

    /// Every open backfill of the queue-region, oldest first (an index entry whose
    /// request lapsed is dropped).
    pub async fn all(
        &self,
        queue: &str,
        region: &str,
    ) -> Result<Vec<OpenBackfill>, fred::error::Error> {
        let q = self.keys.queue(queue, region);
        let ids: Vec<String> = self
            .redis
            .zrange(q.backfills(), 0, -1, None, false, None, false)
            .await?;
        let mut open = Vec::with_capacity(ids.len());
        for match_id in ids {
            match self.get(queue, region, &match_id).await? {
                Some(request) => open.push(request),
                None => {
                    let _: i64 = self.redis.zrem(q.backfills(), &match_id).await?;
                }
            }
        }
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_request_parses() {
        let fields: BTreeMap<String, String> = [
            ("id", "b1"),
            ("server", "gs-1"),
            ("requested_ms", "1700000000000"),
            ("means", "1500,1612.5"),
            ("want:1", "2"),
            ("want:0", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let open = OpenBackfill::parse("m1", &fields).expect("parses");
        assert_eq!(open.means, vec![1500.0, 1612.5]);
        // A team that wants nobody more is not listed.
        assert_eq!(open.wanted, BTreeMap::from([(1, 2)]));
        assert_eq!(open.still_wanted(), 2);
        let mut broken = fields.clone();
        broken.remove("server");
        assert_eq!(OpenBackfill::parse("m1", &broken), None);
    }
}
