//! What one pool instance keeps in memory of the regions it works: their latest figures,
//! for the instance's announcement. Written by [`crate::ops::region_stats`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The latest figures of the regions this instance allocates for (recorded by
/// [`crate::ops::region_stats`] with [`crate::ops::Gauges::Publish`]), for its announcement.
#[derive(Debug, Default)]
pub struct RegionFigures {
    latest: Mutex<BTreeMap<String, (Instant, Value)>>,
}

impl RegionFigures {
    pub(crate) fn record(&self, region: &str, mut figures: Value) {
        if let Some(figures) = figures.as_object_mut() {
            figures.remove("servers");
        }
        self.lock()
            .insert(region.to_owned(), (Instant::now(), figures));
    }

    /// The figures recorded within `within`, by region.
    pub(crate) fn fresh(&self, within: Duration) -> Vec<Value> {
        self.lock()
            .values()
            .filter(|(at, _)| at.elapsed() <= within)
            .map(|(_, figures)| figures.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Instant, Value)>> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
