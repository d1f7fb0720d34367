//! The one token bucket: a rate with a burst allowance, for one thing (a connection's
//! requests) or per key with a bounded table (connects per source address, dashboard
//! sign-ins per address). A few bytes per bucket and no timer: tokens refill on use.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// Takes per second with a burst allowance.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket as of `now`.
    pub fn new_at(per_second: f64, burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second,
            last: now,
        }
    }

    pub fn new(per_second: f64, burst: u32) -> Self {
        Self::new_at(per_second, burst, Instant::now())
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    /// [`TokenBucket::take`] at `now`.
    pub fn take_at(&mut self, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled to its burst by `now` (its key can be forgotten).
    pub fn is_full_at(&self, now: Instant) -> bool {
        self.tokens_at(now) >= self.burst
    }

    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.per_second).min(self.burst)
    }
}

/// A token bucket per key, in a table of at most `max_keys`: past it, keys whose bucket
/// is full again are forgotten (a fresh bucket is full too, so nothing changes for them),
/// so a flood of keys cannot grow memory without bound.
#[derive(Debug)]
pub struct PerKey<K> {
    per_second: f64,
    burst: u32,
    max_keys: usize,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

impl<K: Eq + Hash> PerKey<K> {
    pub fn new(per_second: f64, burst: u32, max_keys: usize) -> Self {
        Self {
            per_second,
            burst,
            max_keys,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one of `key`'s tokens if it has one.
    pub fn take_at(&self, key: K, now: Instant) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= self.max_keys && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| !bucket.is_full_at(now));
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new_at(self.per_second, self.burst, now))
            .take_at(now)
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_at(10.0, 5, start);
        assert_eq!((0..8).filter(|_| bucket.take_at(start)).count(), 5);
        // 0.25 s at 10/s refills 2.5 tokens: two requests pass.
        let later = start + Duration::from_millis(250);
        assert_eq!((0..5).filter(|_| bucket.take_at(later)).count(), 2);
        // Never more than the burst, however long the pause.
        let much_later = later + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| bucket.take_at(much_later)).count(), 5);
    }

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_others_are_not_affected() {
        let keys = PerKey::new(2.0, 3, 100);
        let start = Instant::now();
        let taken: Vec<bool> = (0..4).map(|_| keys.take_at("a", start)).collect();
        assert_eq!(taken, vec![true, true, true, false]);
        // Half a second at 2/s refills one.
        let later = start + Duration::from_millis(500);
        assert!(keys.take_at("a", later));
        assert!(!keys.take_at("a", later));
        assert!(keys.take_at("b", later));
    }

    #[test]
    fn the_table_stays_bounded() {
        const MAX: usize = 1000;
        let keys = PerKey::new(1000.0, 1, MAX);
        let start = Instant::now();
        for i in 0..(MAX as u64 + 10) {
            // Each key spends its one token at a later instant, so earlier ones have
            // refilled by the time the table is full.
            keys.take_at(i, start + Duration::from_millis(i));
        }
        assert!(keys.len() <= MAX, "{}", keys.len());
    }
}
