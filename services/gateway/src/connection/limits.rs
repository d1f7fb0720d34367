//! Per-connection limits that need no Redis: a token bucket on requests, and the strike
//! count that turns repeated abuse into a 1008 close. Both are a few bytes and no timer.

use std::time::{Duration, Instant};

/// Requests per second with a burst allowance.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second,
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

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
    fn bucket_allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5);
        bucket.last = start;
        assert_eq!((0..8).filter(|_| bucket.take_at(start)).count(), 5);
        // 0.25 s at 10/s refills 2.5 tokens: two requests pass.
        let later = start + Duration::from_millis(250);
        assert_eq!((0..5).filter(|_| bucket.take_at(later)).count(), 2);
        // Never more than the burst, however long the pause.
        let much_later = later + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| bucket.take_at(much_later)).count(), 5);
    }

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
