//! Allocation: a pending match is given to the least-loaded live, ready server with a free
//! slot among the candidates read just before (`pool_allocate.lua`: atomic on the region's
//! slot, so no server is ever given more games than its capacity, however many allocators
//! race). The region's worker in the server pool decides when and how many; this module
//! decides how. Allocations are announced only once a replica has them
//! ([`Matches::confirm_allocations`], one `WAIT` per batch): players are never sent to a
//! server a failover then forgets.

use core_keys::scripts;
use fred::prelude::SortedSetsInterface;
use fred::types::{FromValue, Value};
use queues::MatchRecord;
use service_runtime::clock::now_ms;
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::Matches;

static ALLOCATE: LuaScript<Allocation> =
    LuaScript::new(include_str!("allocation/pool_allocate.lua"));

/// One allocation to try.
#[derive(Debug, Clone, Copy)]
pub struct AllocationRequest<'a> {
    pub region: &'a str,
    pub match_id: &'a str,
    /// The allocator lease's owner token (the script checks it: fencing).
    pub owner: &'a str,
    /// Servers to choose from, from [`Matches::candidates`].
    pub candidates: &'a [String],
}

/// What became of one pending match.
#[derive(Debug, Clone, PartialEq)]
pub enum Allocation {
    /// Given to `server` at `address`; the match as formed comes back to be announced.
    Assigned {
        server: String,
        address: String,
        record: Option<Box<MatchRecord>>,
    },
    /// No candidate has room.
    NoCapacity,
    /// Not pending any more (allocated, cancelled or ended meanwhile).
    NotPending,
    /// The caller no longer holds the region's allocator lease.
    NotHolder,
}

impl FromValue for Allocation {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        Ok(match (tag.as_str(), rest.as_slice()) {
            ("assigned", [server, address, record]) => Allocation::Assigned {
                server: server.clone(),
                address: address.clone(),
                record: serde_json::from_str(record).ok().map(Box::new),
            },
            ("no_capacity", _) => Allocation::NoCapacity,
            ("not_pending", _) => Allocation::NotPending,
            ("not_holder", _) => Allocation::NotHolder,
            (other, _) => return Err(unexpected_reply("pool_allocate.lua", other)),
        })
    }
}

impl Matches {
    /// Up to `count` of `region`'s pending matches, oldest first, with when each formed.
    pub async fn pending(
        &self,
        region: &str,
        count: i64,
    ) -> Result<Vec<(String, f64)>, fred::error::Error> {
        self.redis
            .zrange(
                self.keys.pool(region).pending(),
                0,
                count - 1,
                None,
                false,
                None,
                true,
            )
            .await
    }

    /// Up to `count` of the least-loaded servers with room, less those whose heartbeat
    /// lapsed (not reaped yet): dead servers must not hide live ones with room.
    pub async fn candidates(
        &self,
        region: &str,
        count: usize,
    ) -> Result<Vec<String>, fred::error::Error> {
        let pool = self.keys.pool(region);
        let least_loaded: Vec<String> = self
            .redis
            .zrangebyscore(
                pool.servers_by_load(),
                "-inf",
                "(1",
                false,
                Some((0, 4 * count as i64)),
            )
            .await?;
        if least_loaded.is_empty() {
            return Ok(Vec::new());
        }
        let lapses: Vec<Option<f64>> = self
            .redis
            .zmscore(pool.liveness(), least_loaded.clone())
            .await?;
        let now = now_ms() as f64;
        Ok(least_loaded
            .into_iter()
            .zip(lapses)
            .filter(|(_, lapse)| lapse.is_some_and(|at| at > now))
            .map(|(server, _)| server)
            .take(count)
            .collect())
    }

    /// Gives the match a server among the candidates, if one has room.
    pub async fn allocate(
        &self,
        request: AllocationRequest<'_>,
    ) -> Result<Allocation, fred::error::Error> {
        let refs: Vec<&str> = request.candidates.iter().map(String::as_str).collect();
        let mut args = vec![
            request.owner.to_owned(),
            request.match_id.to_owned(),
            now_ms().to_string(),
        ];
        args.extend(request.candidates.iter().cloned());
        // Every allocation of a region through one client: one WAIT confirms a batch.
        let client = self.replicated.batches();
        let allocation = ALLOCATE
            .run(
                client,
                scripts::pool_allocate(&self.keys, request.region, request.match_id, &refs),
                args,
            )
            .await?;
        Ok(allocation)
    }

    /// Waits until a replica has every allocation made so far in `region` (they are all
    /// on the region's slot, written through one connection: one `WAIT` confirms a
    /// batch). Unconfirmed allocations are not announced yet: they stay in the region's
    /// to-announce set, and a later round announces them.
    pub async fn confirm_allocations(
        &self,
        region: &str,
    ) -> Result<Result<(), crate::NotReplicated>, fred::error::Error> {
        let key = self.keys.pool(region).pending();
        self.replicated
            .confirm(self.replicated.batches(), &key)
            .await
    }
}
