//! Latency percentiles without keeping every sample (an HDR histogram in microseconds, 1 µs
//! to 10 minutes at three significant figures), and the timestamps the scenarios put in
//! message bodies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, 600_000_000, 3)
            .expect("constant bounds that hdrhistogram accepts");
        Self { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(micros.max(1));
    }

    pub fn record_micros(&mut self, micros: u64) {
        self.histogram.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: cannot fail.
        let _same_bounds = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q` quantile in milliseconds.
    pub fn ms_at(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Microseconds since the Unix epoch: the stamp put in message bodies, comparable across
/// load generator processes on one machine.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A message body: when it was sent and its sequence number.
pub fn stamped_body(seq: u64) -> serde_json::Value {
    serde_json::json!({ "t": now_micros(), "n": seq })
}

/// The `(sent at, sequence number)` of a stamped body.
pub fn read_stamp(body: &serde_json::Value) -> Option<(u64, u64)> {
    Some((body.get("t")?.as_u64()?, body.get("n")?.as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut latency = Latency::new();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        assert_eq!(latency.count(), 100);
        assert!((latency.ms_at(0.5) - 50.0).abs() < 0.1);
        assert!((latency.ms_at(0.99) - 99.0).abs() < 0.1);
        let mut other = Latency::new();
        other.record(Duration::from_secs(2));
        latency.merge(&other);
        assert_eq!(latency.count(), 101);
        assert!((latency.ms_at(1.0) - 2000.0).abs() < 2.0);
    }

    #[test]
    fn stamps_round_trip() {
        let body = stamped_body(42);
        let (t, n) = read_stamp(&body).expect("stamp");
        assert_eq!(n, 42);
        assert!(t <= now_micros());
        assert_eq!(read_stamp(&serde_json::json!({"t": "x"})), None);
    }
}
