//! What the server pool's handlers and region workers share.

use matches::{Announcer, Matches};
use service_runtime::ServiceContext;

use crate::config::Config;
use crate::registry::Registry;
use crate::result_groups::ResultGroups;

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The runtime's handles: keys, Redis, subscriptions, the instance id.
    pub ctx: ServiceContext,
    /// The game servers of every region.
    pub registry: Registry,
    /// Every step of a match's life (`crates/matches`).
    pub matches: Matches,
    /// Posted results, recorded in groups.
    pub result_groups: ResultGroups,
    /// `match.found` with join tokens signed with the pool's current token.
    pub announcer: Announcer,
    /// What the region workers last read of their regions, for the announcement.
    pub region_figures: crate::figures::RegionFigures,
}

impl Shared {
    /// Ends the matches of `region` whose server no longer runs them (at once after the
    /// call that found them; the region's worker retries what fails here), and forgets
    /// draining servers that ran their last game with them.
    pub async fn end_orphaned(&self, region: &str) {
        let mut servers_left = Vec::new();
        if let Err(err) = self.matches.end_orphaned(region, &mut servers_left).await {
            tracing::warn!(region, error = %err, "could not end orphaned games now; the region's worker retries");
        }
        for server in servers_left {
            if let Err(err) = self.registry.forget_drained(&server).await {
                tracing::warn!(server, error = %err, "could not forget a server that left");
            }
        }
    }
}
