//! What the server pool's handlers and allocators share.

use core_keys::Keys;
use fred::prelude::Client;
use service_runtime::publish::Publisher;
use service_runtime::subscriptions::Subscriptions;

use crate::config::Config;
use crate::games::Games;
use crate::registry::Registry;

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub instance_id: String,
    pub keys: Keys,
    pub redis: Client,
    pub publisher: Publisher,
    pub subscriptions: Subscriptions,
    pub registry: Registry,
    pub games: Games,
    pub tickets: queues::Tickets,
    /// What the allocators last read of their regions, for the announcement.
    pub region_figures: crate::ops::RegionFigures,
}
