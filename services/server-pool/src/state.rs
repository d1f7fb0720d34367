//! What the server pool's handlers and region workers share.

use core_keys::Keys;
use fred::prelude::Client;
use matches::{Announcer, Matches};
use service_runtime::subscriptions::Subscriptions;

use crate::config::Config;
use crate::registry::Registry;

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub instance_id: String,
    pub keys: Keys,
    pub redis: Client,
    pub subscriptions: Subscriptions,
    /// The game servers of every region.
    pub registry: Registry,
    /// Every step of a match's life (`crates/matches`).
    pub matches: Matches,
    /// `match.found` with join tokens signed with the pool's current token.
    pub announcer: Announcer,
    /// What the region workers last read of their regions, for the announcement.
    pub region_figures: crate::ops::RegionFigures,
}
