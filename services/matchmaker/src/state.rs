//! What the workers of one matchmaker instance share.

use core_keys::Keys;
use fred::prelude::Client;
use queues::Tickets;
use service_runtime::publish::Publisher;

use crate::config::Config;
use crate::handover::Handover;
use crate::stats::{Held, Recent};

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub instance_id: String,
    pub keys: Keys,
    pub redis: Client,
    pub publisher: Publisher,
    pub tickets: Tickets,
    pub handover: Handover,
    pub recent: Recent,
    pub held: Held,
}
