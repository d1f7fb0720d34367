//! Every time-to-live and lease duration default, in one place.
//!
//! Services take these as config defaults; tests shorten them through config.

use std::time::Duration;

/// A player's session lives this long without a heartbeat from its gateway.
pub const SESSION: Duration = Duration::from_secs(30);

/// An instance's registry entry lives this long without being renewed.
pub const INSTANCE: Duration = Duration::from_secs(15);

/// Default lease length for a unit of work (a queue, a region, a data set).
pub const LEASE: Duration = Duration::from_secs(5);

/// A game server is reaped when it has not sent a heartbeat for this long.
pub const SERVER_HEARTBEAT: Duration = Duration::from_secs(60);

/// A ticket outlives a dropped socket this long, so a quick reconnect keeps its place.
pub const TICKET_GRACE: Duration = Duration::from_secs(30);

/// Window of the per-player chat rate limit.
pub const CHAT_RATE_WINDOW: Duration = Duration::from_secs(60);
