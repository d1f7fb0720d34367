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

/// When a player was last seen (presence) is remembered this long after their last
/// session ended.
pub const LAST_SEEN: Duration = Duration::from_secs(30 * 24 * 3600);

/// A game server is reaped when it has not sent a heartbeat for this long.
pub const SERVER_HEARTBEAT: Duration = Duration::from_secs(60);

/// A drained game server is remembered this long after it left, so its heartbeats are
/// answered 410 (drained: do not register again) rather than 404 (register again).
pub const DRAINED_SERVER: Duration = Duration::from_secs(3600);

/// A ticket outlives a dropped socket this long, so a quick reconnect keeps its place.
pub const TICKET_GRACE: Duration = Duration::from_secs(30);

/// The longest a posted result holds back its players' next `queue.join` (if PostgreSQL
/// stays down longer, they queue at the rating the cache holds).
pub const RATING_PENDING: Duration = Duration::from_secs(3600);

/// How long after a result was posted its players' pending ratings may stand with no
/// result recorded before the pool's reconciler clears them (the post failed half-way and
/// was not retried): well over the time between marking and recording.
pub const RATING_PENDING_GRACE: Duration = Duration::from_secs(30);

/// How long a warmed profile stays in Redis unless written again (a rating change, an
/// invalidation). A profile that lapses while its player is online or queued is warmed
/// again by the cache-warmer's reconcile scan or by the next join that misses it.
pub const PROFILE: Duration = Duration::from_secs(6 * 3600);

/// Window of the per-player chat rate limit.
pub const CHAT_RATE_WINDOW: Duration = Duration::from_secs(60);
