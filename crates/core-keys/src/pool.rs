//! Keys of one region's server pool, all in the slot `{pool:<region>}`.
//!
//! Allocation (pick the least-loaded ready server with room, take a slot on it, record the
//! assignment) is one script on this slot, so no server is ever given more games than its
//! capacity, however many server-pool instances allocate at once.

/// Keys of one region's pool. Built by [`crate::Keys::pool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKeys {
    prefix: String,
}

impl PoolKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Sorted set: ready server ids scored by load (active games / capacity).
    pub fn servers_by_load(&self) -> String {
        self.key("servers")
    }

    /// Sorted set: server ids scored by the time their heartbeat lapses (ms).
    pub fn liveness(&self) -> String {
        self.key("liveness")
    }

    /// Hash: one server (address, capacity, active games, labels, status).
    pub fn server(&self, server: &str) -> String {
        self.key(&format!("server:{server}"))
    }

    /// Sorted set: matches of one server not yet acknowledged, scored by assignment time.
    pub fn assignments(&self, server: &str) -> String {
        self.key(&format!("assignments:{server}"))
    }

    /// Set: matches on one server that have not ended (assigned or started), so a server
    /// that dies can have its games cancelled or ended.
    pub fn games(&self, server: &str) -> String {
        self.key(&format!("games:{server}"))
    }

    /// Sorted set: servers whose heartbeat lapsed, by when they were found dead, until
    /// their games are dealt with.
    pub fn lost(&self) -> String {
        self.key("lost")
    }

    /// Sorted set: matches given to a server and not yet acknowledged, by assignment time;
    /// one not acknowledged in time is cancelled and its players requeued.
    pub fn unacked(&self) -> String {
        self.key("unacked")
    }

    /// Sorted set: matches whose server no longer runs them (a new incarnation took its
    /// id, its heartbeats stopped listing them, or they outlived `pool.max_game_ms`), by
    /// when that was found, until they are ended. The reason is on the match's hash.
    pub fn orphaned(&self) -> String {
        self.key("orphaned")
    }

    /// Sorted set: matches whose players' ratings were marked pending by a posted result,
    /// by when; a mark whose result never got recorded is cleared from here.
    pub fn rating_pending(&self) -> String {
        self.key("rating_pending")
    }

    /// Sorted set: cancelled matches whose players are still to be requeued and told.
    pub fn cancelling(&self) -> String {
        self.key("cancelling")
    }

    /// Sharded channel: "an assignment is ready" for one server's long poll.
    pub fn assignments_channel(&self, server: &str) -> String {
        self.key(&format!("assigned:{server}"))
    }

    /// Sorted set: matches waiting for a server, scored by the time they were handed over.
    pub fn pending(&self) -> String {
        self.key("pending")
    }

    /// Hash: one match as the pool knows it (teams, server, state).
    pub fn pool_match(&self, match_id: &str) -> String {
        self.key(&format!("match:{match_id}"))
    }

    /// Sorted set: matches allocated but not yet announced to their players (`match.found`),
    /// scored by allocation time; the allocator retries announcements from here.
    pub fn announce(&self) -> String {
        self.key("announce")
    }

    /// Sorted set: backfill fills (players claimed from a queue for a running match of
    /// this region) not yet added to their match and announced, by fill id, scored by
    /// when they were claimed. The region's allocator works them off.
    pub fn fills(&self) -> String {
        self.key("fills")
    }

    /// Hash: fill id -> the fill's record (JSON), while it is in [`PoolKeys::fills`].
    pub fn fill_records(&self) -> String {
        self.key("fill-records")
    }

    /// Sharded channel: "a match waits for allocation" hints for the region's allocator.
    pub fn events_channel(&self) -> String {
        self.key("events")
    }

    /// String: lease of the instance allocating for this region.
    pub fn allocator_lease(&self) -> String {
        self.key("lease:allocate")
    }

    /// String: lease of the instance reaping dead servers of this region.
    pub fn reaper_lease(&self) -> String {
        self.key("lease:reap")
    }

    /// List: match results of this region waiting to be written to PostgreSQL (outbox).
    pub fn results_outbox(&self) -> String {
        self.key("results")
    }

    /// String: lease of the cache-warmer instance committing this region's outbox.
    pub fn results_lease(&self) -> String {
        self.key("lease:results")
    }

    /// List: outbox entries that could not be read (kept for an operator, never dropped).
    pub fn results_dead(&self) -> String {
        self.key("results:dead")
    }

    /// Hash: counters of this region (allocations, cancellations, ...), for stats.
    pub fn stats(&self) -> String {
        self.key("stats")
    }
}
