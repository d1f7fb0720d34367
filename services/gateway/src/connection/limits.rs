//! Per-connection limits that need no Redis: a token bucket on requests (the runtime's
//! [`TokenBucket`]), and the connection's own strike count, which stands in for the
//! player's count in Redis ([`crate::guard`]) when Redis cannot be asked. Both are a few
//! bytes and no timer.

use std::time::{Duration, Instant};

pub use service_runtime::rate::TokenBucket;

/// Refused requests within a window; too many is abuse.
#[derive(Debug)]
pub struct Strikes {
    count: u32,
    limit: u32,
    window_started: Instant,
}

/// Strikes are forgotten after this long.
const STRIKE_WINDOW: Duration = Duration::from_secs(60);

impl Strikes {
    /// Strikes that start at `count` (the player's, as Redis had them at connect).
    pub fn starting_at(limit: u32, count: u32) -> Self {
        Self {
            count,
            limit,
            window_started: Instant::now(),
        }
    }

    /// Counts one strike; true when the limit is reached.
    pub fn strike(&mut self) -> bool {
        self.strike_at(Instant::now())
    }

    fn strike_at(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_started) > STRIKE_WINDOW {
            self.count = 0;
            self.window_started = now;
        }
        self.count += 1;
        self.count >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strikes_reach_the_limit_within_the_window_only() {
        let start = Instant::now();
        let mut strikes = Strikes::starting_at(3, 0);
        strikes.window_started = start;
        assert!(!strikes.strike_at(start));
        assert!(!strikes.strike_at(start));
        // After a quiet window the count starts again.
        let later = start + STRIKE_WINDOW + Duration::from_secs(1);
        assert!(!strikes.strike_at(later));
        assert!(!strikes.strike_at(later));
        assert!(strikes.strike_at(later));
    }
}
