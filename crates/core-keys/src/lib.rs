//! Every Redis key, hash tag, channel name and TTL that Rallypoint uses, in one place.
//!
//! Pure: no I/O. A key is always built here, never by string formatting elsewhere, so the
//! hash tags that decide which cluster slot (and so which shard) a key lives on are chosen
//! once and tested once.
//!
//! # Shape of a key
//! `<namespace>:{<tag>}:<name>`: the namespace comes from config (several deployments and
//! parallel test runs share one cluster), the `{tag}` groups the keys that one atomic step
//! touches into one slot, and the name says what the key holds.
//!
//! | family | tag | what shares the slot |
//! |---|---|---|
//! | [`PlayerKeys`] | `{p:<player>}` | session, inbox channel, ticket marker, current match, profile, chat rate, party, pending invites |
//! | [`QueueKeys`] | `{q:<queue>:<region>}` | tickets by rating, tickets by age, ticket hashes, claimed matches, the queue's lease |
//! | [`PoolKeys`] | `{pool:<region>}` | servers by load, server hashes, liveness, pending matches, assignments, the region's leases |
//! | [`RoomKeys`] | `{r:<room>}` | members, per-gateway member counts, the room's channel |
//! | [`PartyKeys`] | `{party:<party>}` | one party: leader, members, open invites |
//! | [`MatchKeys`] | `{m:<match>}` | one match's record (state, server, each player's `match.found`), read after the pool moved on |
//! | [`InstanceKeys`] | `{inst}` / `{inst:<id>}` | the instance registry; one instance's control channel |
//! | [`DataKeys`] | `{data:<kind>}` | one kind of static game data and its version |
//!
//! # Layout
//! - [`namespace`]: the validated prefix and the [`Keys`] builder every family hangs off.
//! - [`slot`]: the cluster-slot function and shard arithmetic the tests use.
//! - [`ttl`]: every time-to-live and lease duration default.
//! - [`scripts`]: for each Lua script, the exact keys it touches, so one test can prove
//!   each script stays inside one slot.
//! - one module per key family (see the table).

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod data;
mod instance;
mod matches;
pub mod namespace;
mod party;
mod player;
mod pool;
mod queue;
mod room;
pub mod scripts;
pub mod slot;
pub mod ttl;

pub use data::DataKeys;
pub use instance::InstanceKeys;
pub use matches::MatchKeys;
pub use namespace::{Keys, NamespaceError};
pub use party::PartyKeys;
pub use player::PlayerKeys;
pub use pool::PoolKeys;
pub use queue::QueueKeys;
pub use room::RoomKeys;
pub use slot::{SLOT_COUNT, slot_of};
