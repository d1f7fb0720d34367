//! What one matchmaker instance keeps in memory for its reports: wait times and rating
//! spreads of the matches it formed recently, and which queue-regions it holds. Written
//! by the queue units, read by [`crate::stats`].

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Value, json};

/// Recent formed matches kept for percentiles.
const RECENT: usize = 10_000;

/// Wait times and rating spreads of the matches this instance formed recently.
#[derive(Debug, Default)]
pub struct Recent {
    inner: Mutex<RecentInner>,
}

#[derive(Debug, Default)]
struct RecentInner {
    waits_ms: VecDeque<u64>,
    spreads: VecDeque<f64>,
    matches: u64,
    /// The same waits per queue-region, for the queue's own percentiles.
    unit_waits_ms: std::collections::HashMap<(String, String), VecDeque<u64>>,
}

/// Recent waits kept per queue-region.
const RECENT_PER_UNIT: usize = 2_000;

impl Recent {
    /// Records one formed match: each player's wait, and the match's rating spread.
    pub fn record(&self, queue: &str, region: &str, waits_ms: &[u64], spread: f64) {
        let labels = [("queue", queue.to_owned()), ("region", region.to_owned())];
        metrics::counter!("rallypoint_matchmaker_matches_total", &labels).increment(1);
        metrics::counter!("rallypoint_matchmaker_tickets_matched_total", &labels)
            .increment(waits_ms.len() as u64);
        metrics::histogram!("rallypoint_matchmaker_rating_spread", &labels).record(spread);
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for wait in waits_ms {
            metrics::histogram!("rallypoint_matchmaker_wait_seconds", &labels)
                .record(*wait as f64 / 1000.0);
            if inner.waits_ms.len() == RECENT {
                inner.waits_ms.pop_front();
            }
            inner.waits_ms.push_back(*wait);
        }
        let unit = inner
            .unit_waits_ms
            .entry((queue.to_owned(), region.to_owned()))
            .or_default();
        for wait in waits_ms {
            if unit.len() == RECENT_PER_UNIT {
                unit.pop_front();
            }
            unit.push_back(*wait);
        }
        if inner.spreads.len() == RECENT {
            inner.spreads.pop_front();
        }
        inner.spreads.push_back(spread);
        inner.matches += 1;
    }

    pub fn summary(&self) -> Value {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut waits: Vec<f64> = inner.waits_ms.iter().map(|w| *w as f64).collect();
        let mut spreads: Vec<f64> = inner.spreads.iter().copied().collect();
        json!({
            "matches_formed_here": inner.matches,
            "wait_ms": percentiles(&mut waits),
            "rating_spread": percentiles(&mut spreads),
        })
    }

    /// Wait percentiles (ms) of the matches this instance formed recently in one queue.
    pub fn unit_waits(&self, queue: &str, region: &str) -> Value {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut waits: Vec<f64> = inner
            .unit_waits_ms
            .get(&(queue.to_owned(), region.to_owned()))
            .map(|w| w.iter().map(|w| *w as f64).collect())
            .unwrap_or_default();
        percentiles(&mut waits)
    }
}

fn percentiles(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_by(f64::total_cmp);
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    json!({"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0), "samples": values.len()})
}

/// Which queue-regions this instance holds right now.
#[derive(Debug, Default)]
pub struct Held {
    units: Mutex<std::collections::HashSet<(String, String)>>,
}

impl Held {
    pub fn set(&self, queue: &str, region: &str, held: bool) {
        let mut units = self
            .units
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held {
            units.insert((queue.to_owned(), region.to_owned()));
        } else {
            units.remove(&(queue.to_owned(), region.to_owned()));
        }
        metrics::gauge!("rallypoint_matchmaker_units_held").set(units.len() as f64);
    }

    pub fn is_held(&self, queue: &str, region: &str) -> bool {
        self.units
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(queue.to_owned(), region.to_owned()))
    }
}
