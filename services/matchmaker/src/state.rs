//! What the workers of one matchmaker instance share.

use queues::Tickets;
use service_runtime::ServiceContext;

use crate::config::Config;
use crate::figures::{Held, Recent};
use crate::handover::Handover;

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The runtime's handles: keys, Redis, the publish path, the instance id.
    pub ctx: ServiceContext,
    pub tickets: Tickets,
    pub handover: Handover,
    pub recent: Recent,
    pub held: Held,
}
