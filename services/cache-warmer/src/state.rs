//! What the cache-warmer's workers share.

use service_runtime::ServiceContext;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::database::Database;

/// Shared by every worker and the operator routes.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The runtime's handles: keys, Redis, the publish path, subscriptions, the instance id.
    pub ctx: ServiceContext,
    pub db: Database,
    /// Lets the players of a result set aside go (`crates/matches`).
    pub matches: matches::Matches,
    /// Asks the game-data worker to reload kinds now (`None`: every kind). Bounded: a
    /// request that does not fit is a duplicate of one waiting, or retried by its sender.
    pub data_requests: mpsc::Sender<Option<String>>,
}

impl Shared {
    /// Tells every local cache (any service) that these players' profiles or this data
    /// kind changed in Redis: they drop their copies. A hint: a copy missed here is gone
    /// within the readers' TTL anyway.
    pub async fn announce_change(&self, dataset: Option<String>, players: Vec<String>) {
        let players = players
            .iter()
            .filter_map(|p| proto::Id::parse(p).ok())
            .collect();
        let event = proto::Event::CacheInvalidate { dataset, players };
        self.ctx
            .publisher
            .publish_event(&self.ctx.keys.cache_invalidate_channel(), event)
            .await;
    }
}
