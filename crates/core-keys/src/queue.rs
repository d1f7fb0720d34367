//! Keys of one queue in one region, all in the slot `{q:<queue>:<region>}`.
//!
//! The matchmaker's claim (check every chosen ticket is still queued, remove them, record
//! the match) is one script on this slot; so is join and leave.

/// Keys of one queue-region. Built by [`crate::Keys::queue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    prefix: String,
}

impl QueueKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Sorted set: ticket id scored by rating. The matchmaker reads candidates from it.
    pub fn tickets(&self) -> String {
        self.key("tickets")
    }

    /// Sorted set: ticket id scored by enqueue time (ms). Oldest first; timeouts.
    pub fn waiting(&self) -> String {
        self.key("waiting")
    }

    /// Hash: ticket id -> player, for every queued ticket (the matchmaker's snapshot reads
    /// it in one call).
    pub fn players(&self) -> String {
        self.key("players")
    }

    /// List: changes (joins and leaves) not yet seen by the matchmaker holding the queue,
    /// which keeps the queue in memory and takes the list each tick instead of re-reading
    /// the whole queue.
    pub fn changes(&self) -> String {
        self.key("changes")
    }

    /// Hash: one ticket (player, rating, enqueued at, ...).
    pub fn ticket(&self, ticket: &str) -> String {
        self.key(&format!("ticket:{ticket}"))
    }

    /// Hash: a match claimed from this queue and not yet handed to the server pool.
    pub fn claimed_match(&self, match_id: &str) -> String {
        self.key(&format!("match:{match_id}"))
    }

    /// Sorted set: claimed match ids scored by claim time; the hand-over to the pool is
    /// retried from here after a crash.
    pub fn claimed(&self) -> String {
        self.key("claimed")
    }

    /// String: the lease of the matchmaker instance that matches this queue-region.
    pub fn lease(&self) -> String {
        self.key("lease")
    }

    /// Sorted set: this queue's matches in a ready check, scored by when it expires; the
    /// matchmaker holding the queue settles them (from here after a crash too).
    pub fn ready_checks(&self) -> String {
        self.key("ready-checks")
    }

    /// Sorted set: the matches that asked this queue for players (backfill), scored by
    /// when they asked; the matchmaker holding the queue fills them.
    pub fn backfills(&self) -> String {
        self.key("backfills")
    }

    /// Hash: one match's open backfill request (its id, its server, the teams' mean
    /// ratings, and per team the players still wanted).
    pub fn backfill(&self, match_id: &str) -> String {
        self.key(&format!("backfill:{match_id}"))
    }

    /// Hash: counters of this queue (matches formed, timeouts, ...), for stats.
    pub fn stats(&self) -> String {
        self.key("stats")
    }
}
