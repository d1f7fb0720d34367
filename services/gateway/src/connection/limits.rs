//! Per-connection limits that need no Redis: a token bucket on requests (the runtime's
//! [`TokenBucket`]), and the strike count that turns repeated abuse into a 1008 close.
//! Both are a few bytes and no timer.

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
    pub fn new(limit: u32) -> Self {
        Self {
            count: 0,
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
        let mut strikes = Strikes::new(3);
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
