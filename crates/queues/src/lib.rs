//! Matchmaking queues as Rallypoint stores them, shared by every service that touches a
//! ticket: the gateway writes tickets (`queue.join`, `queue.leave`, `queue.status`), the
//! matchmaker reads and claims them. One crate so both sides agree on the format.
//!
//! # Layout
//! - [`config`]: the `[matchmaking]` config section: queue definitions (teams, team size,
//!   regions, rating windows, maximum wait), the default rating, the ticket grace.
//! - [`tickets`]: a player's one ticket in Redis: reserve it in the player's slot, enqueue
//!   it in the queue's slot, leave, and ask where it stands.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod config;
pub mod tickets;

pub use config::{Lookup, MatchmakingConfig, QueueDefinition};
pub use tickets::{JoinOutcome, LeaveOutcome, Ticket, TicketError, TicketStatus, Tickets};
