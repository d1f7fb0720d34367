//! Matchmaking queues as Rallypoint stores them, shared by every service that touches a
//! ticket: the gateway writes tickets (`queue.join`, `queue.leave`, `queue.status`), the
//! matchmaker reads and claims them. One crate so both sides agree on the format.
//!
//! # Layout
//! - [`config`]: the `[matchmaking]` config section: queue definitions (teams, team size,
//!   regions, rating windows, maximum wait), the default rating, the ticket grace.
//! - [`tickets`]: a player's one ticket in Redis: reserve it in the player's slot, enqueue
//!   it in the queue's slot, leave, and ask where it stands.
//! - [`holder`]: what the matchmaker holding a queue's lease does to it: snapshot, changes,
//!   claim, expire, hand-over bookkeeping; every step fenced by the lease.
//! - [`members`]: who a ticket seats: one player or a party's members, and how a
//!   party's rating comes from theirs.
//! - [`record`]: a formed match as recorded with its claim.
//! - [`backfill`]: game servers' requests for players for running matches, kept in the
//!   queue's slot so filling one is claimed like a match.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod backfill;
pub mod config;
pub mod holder;
pub mod members;
pub mod record;
pub mod tickets;

pub use backfill::{Backfills, CloseReason, OpenBackfill};
pub use config::{Lookup, MatchmakingConfig, ProfilePolicy, QueueDefinition};
pub use holder::{Change, Claim, ExpireReason, Fenced, FillClaim, QueueHolder, QueuedTicket};
pub use members::{Member, PartyRating};
pub use record::{MatchRecord, MatchedTicket};
pub use tickets::{
    JoinOutcome, JoinPolicy, LeaveOutcome, Reseated, Ticket, TicketError, TicketStatus, Tickets,
};
