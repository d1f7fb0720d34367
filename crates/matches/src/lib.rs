//! The life of a formed match, in one place: from the moment its tickets are claimed to
//! its end. Every write to a match's record (`{m:<match>}:record`) and to its hash in
//! the region's pool (`{pool:<region>}:match:<id>`) is made here, by the scripts beside
//! these modules; the services only run the loops that call them.
//!
//! See `docs/ARCHITECTURE.md`, "The life of a match", for the state diagram.
//!
//! # Layout
//! - [`state`]: [`MatchState`] and the field names of the match's two hashes.
//! - [`handover`]: the matchmaker's cross-slot steps after a claim: players' live match,
//!   the record, pending in the pool (`player_matched.lua`, `pool_pend.lua`).
//! - [`allocation`]: pending matches, candidate servers, and the atomic allocation
//!   (`pool_allocate.lua`) that never puts a server over its capacity.
//! - [`announce`]: `match.found` with join tokens to every player, the stored copy a
//!   reconnecting player is owed, and the server's long-poll wake-up.
//! - [`game_server`]: what a game server asks or says about its matches: its
//!   assignments, the acknowledgement, the result (`pool_ack.lua`, `pool_result.lua`).
//! - [`cancel`]: matches that cannot go on (no server, not started, server lost):
//!   cancelled and requeued, or ended as lost (`pool_cancel.lua`).
//! - [`players`]: freeing players, pending ratings, the owed `match.found`.
//! - [`ready`]: ready checks: opened by the hand-over, answered by the players, decided
//!   by the matchmaker (`ready_start.lua`, `ready_answer.lua`, `ready_settle.lua`).
//! - [`backfill`]: players for a running match: the server's request, the fill handed to
//!   the region, added to the match and announced (`pool_fill_pend.lua`,
//!   `pool_backfill.lua`).
//! - [`results`]: a posted result as it waits in the region's outbox.
//! - `slot_free.lua`: freeing a server's slot, the one piece of Lua every path that ends
//!   a game on a server runs (put in front of `pool_result.lua` and `pool_cancel.lua`).

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod allocation;
pub mod announce;
pub mod backfill;
pub mod cancel;
pub mod game_server;
pub mod handover;
pub mod players;
pub mod ready;
pub mod results;
pub mod state;

use core_keys::Keys;
use fred::prelude::Client;
use service_runtime::publish::Publisher;

pub use allocation::{Allocation, AllocationRequest};
pub use announce::Announcer;
pub use backfill::{BackfillAnswer, Fill};
pub use cancel::{Cancel, Cancelled};
pub use game_server::{Caller, Outcome, Posted, ResultPost};
pub use handover::HandoverError;
pub use results::ResultEntry;
pub use service_runtime::redis::{NotReplicated, Replicated};
pub use state::{MatchState, field};

/// The Lua functions every path that frees a server's slot shares.
const SLOT_FREE: &str = include_str!("slot_free.lua");

/// A handle on the matches of one deployment: what every step of a match's life needs
/// (the keys, Redis, the publish path), and nothing of the service that runs it.
#[derive(Debug, Clone)]
pub struct Matches {
    keys: Keys,
    redis: Client,
    publisher: Publisher,
    /// Puts a cancelled match's tickets back in their queue (at the ratings they had).
    tickets: queues::Tickets,
    /// The matches' backfill requests, kept in their queues.
    backfills: queues::Backfills,
    /// Where the writes others are told about go (an allocation `match.found` announces,
    /// a result answered as recorded), and how many replicas must have them first.
    replicated: Replicated,
}

impl Matches {
    pub fn new(keys: Keys, redis: Client, publisher: Publisher) -> Self {
        Self {
            tickets: queues::Tickets::new(
                keys.clone(),
                redis.clone(),
                // Only requeues: the tickets keep the ratings they were matched at.
                queues::JoinPolicy::default_rating(1500.0),
            ),
            replicated: Replicated::unconfirmed(redis.clone()),
            backfills: queues::Backfills::new(keys.clone(), redis.clone()),
            keys,
            redis,
            publisher,
        }
    }

    /// The client (and replica count) allocations and results are written through.
    pub fn replicated(&self) -> &Replicated {
        &self.replicated
    }

    /// Allocations and results go through `replicated`, and are announced or answered
    /// only once its replicas have them.
    pub fn with_replication(mut self, replicated: Replicated) -> Self {
        self.replicated = replicated;
        self
    }

    /// The matches of a running service, on the runtime's handles.
    pub fn from_context(ctx: &service_runtime::ServiceContext) -> Self {
        Self::new(ctx.keys.clone(), ctx.redis.clone(), ctx.publisher.clone())
    }

    /// Up to `count` members of the region index `set` (scored by ms since the epoch)
    /// that entered it at least `age_ms` ago, oldest first: what a deadline acts on.
    async fn older_than(
        &self,
        set: String,
        age_ms: u64,
        count: i64,
    ) -> Result<Vec<String>, fred::error::Error> {
        use fred::prelude::SortedSetsInterface;
        let before = service_runtime::clock::now_ms().saturating_sub(age_ms) as f64;
        self.redis
            .zrangebyscore(set, "-inf", before, false, Some((0, count)))
            .await
    }

    /// Pushes `message` to `player` (the runtime's one push path).
    async fn push(&self, player: &str, message: proto::ServerMessage) {
        self.publisher
            .push_to_player(&self.keys, player, message)
            .await;
    }
}
