//! What the server pool's handlers and region workers share.

use matches::{Announcer, Matches};
use service_runtime::ServiceContext;

use crate::config::Config;
use crate::registry::Registry;

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The runtime's handles: keys, Redis, subscriptions, the instance id.
    pub ctx: ServiceContext,
    /// The game servers of every region.
    pub registry: Registry,
    /// Every step of a match's life (`crates/matches`).
    pub matches: Matches,
    /// `match.found` with join tokens signed with the pool's current token.
    pub announcer: Announcer,
    /// What the region workers last read of their regions, for the announcement.
    pub region_figures: crate::figures::RegionFigures,
}
