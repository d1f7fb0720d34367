//! Readiness: whether this instance should get traffic, and if not, why.
//!
//! Ready means Redis is reachable, the service is not draining, and every check the
//! service added passes. `/health/ready` answers 503 with the first reason otherwise.
//!
//! Degraded is ready with a reason attached: the instance still does useful work (say,
//! matching players whose profiles are cached while PostgreSQL is down), so it must not be
//! replaced, but an operator should see why it is not at its best. `/health/ready`
//! answers 200 with `"status": "degraded"` and the reasons.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::redis::{Availability, RedisHealth};

/// Shared readiness state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness {
    redis: RedisHealth,
    draining: Arc<AtomicBool>,
    /// Service-specific reasons to be unready, by name (`warm-up`, ...).
    blockers: Arc<Mutex<BTreeMap<String, String>>>,
    /// Reasons the instance works below its best, by name (`database`, ...).
    degraded: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Readiness {
    pub fn new(redis: RedisHealth) -> Self {
        Self {
            redis,
            draining: Arc::default(),
            blockers: Arc::default(),
            degraded: Arc::default(),
        }
    }

    /// Marks the instance as draining: it stays alive but takes no new work.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Sets (`Some(reason)`) or clears (`None`) a named reason to be unready.
    pub fn set_blocker(&self, name: &str, reason: Option<String>) {
        set_reason(&self.blockers, name, reason);
    }

    /// Sets (`Some(reason)`) or clears (`None`) a named reason the instance is degraded.
    /// Returns whether that changed anything (for logging a transition once).
    pub fn set_degraded(&self, name: &str, reason: Option<String>) -> bool {
        set_reason(&self.degraded, name, reason)
    }

    /// The reasons the instance is degraded (empty when it is at its best).
    pub fn degraded(&self) -> BTreeMap<String, String> {
        lock(&self.degraded).clone()
    }

    /// What a load balancer is told (`/health/ready`): as [`Readiness::check`], except
    /// that an outage of Redis shorter than `grace` (one that began after Redis was
    /// reachable: a failover) leaves the instance in rotation, degraded: `Ok(Some(why))`.
    /// Taking every instance out at once would turn a failover of seconds into an outage
    /// of the whole service, and the instance answers what it cannot do with `unavailable`
    /// in the meantime. Draining, a blocker, or a longer outage: `Err`.
    pub fn check_for_balancer(&self, grace: std::time::Duration) -> Result<Option<String>, String> {
        if let (Availability::Down(reason), Some(outage)) =
            (self.redis.current(), self.redis.outage())
            && outage < grace
            && !self.is_draining()
        {
            if let Some(blocked) = self.first_blocker() {
                return Err(blocked);
            }
            return Ok(Some(format!(
                "redis unavailable for {} ms, within ops.redis_outage_grace_ms ({} ms): {reason}",
                outage.as_millis(),
                grace.as_millis()
            )));
        }
        self.check().map(|()| None)
    }

    /// `Ok` when ready, else the reason.
    pub fn check(&self) -> Result<(), String> {
        if self.is_draining() {
            return Err("draining: shutting down".to_owned());
        }
        match self.redis.current() {
            Availability::Up => {}
            Availability::Starting => return Err("redis: not connected yet".to_owned()),
            Availability::Down(reason) => return Err(format!("redis unavailable: {reason}")),
        }
        self.first_blocker().map_or(Ok(()), Err)
    }

    /// The first service-specific reason to be unready, as `name: reason`.
    fn first_blocker(&self) -> Option<String> {
        lock(&self.blockers)
            .iter()
            .next()
            .map(|(name, reason)| format!("{name}: {reason}"))
    }
}

fn lock(
    reasons: &Mutex<BTreeMap<String, String>>,
) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
    reasons
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_reason(
    reasons: &Mutex<BTreeMap<String, String>>,
    name: &str,
    reason: Option<String>,
) -> bool {
    let mut reasons = lock(reasons);
    match reason {
        Some(reason) => reasons.insert(name.to_owned(), reason.clone()) != Some(reason),
        None => reasons.remove(name).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balancer_keeps_an_instance_through_a_redis_outage_shorter_than_the_grace() {
        let readiness = Readiness::new(RedisHealth::new());
        let grace = std::time::Duration::from_secs(60);
        // Never reached: not ready, whatever the grace.
        readiness
            .redis
            .set(Availability::Down("refused".to_owned()));
        assert!(readiness.check_for_balancer(grace).is_err());
        readiness.redis.set(Availability::Up);
        assert_eq!(readiness.check_for_balancer(grace), Ok(None));
        // An outage after being up: degraded within the grace, unready with none.
        readiness
            .redis
            .set(Availability::Down("failover".to_owned()));
        assert!(readiness.check().is_err(), "the instance itself knows");
        assert!(
            readiness
                .check_for_balancer(grace)
                .is_ok_and(|why| why.is_some_and(|w| w.contains("failover")))
        );
        assert!(
            readiness
                .check_for_balancer(std::time::Duration::ZERO)
                .is_err()
        );
        // A blocker or a drain still takes it out.
        readiness.set_blocker("warm-up", Some("loading".to_owned()));
        assert!(readiness.check_for_balancer(grace).is_err());
        readiness.set_blocker("warm-up", None);
        readiness.set_draining();
        assert!(readiness.check_for_balancer(grace).is_err());
        // Back up: the outage is over.
        readiness.redis.set(Availability::Up);
        assert_eq!(readiness.redis.outage(), None);
    }

    #[test]
    fn ready_only_when_redis_is_up_nothing_blocks_and_not_draining() {
        let readiness = Readiness::new(RedisHealth::new());
        assert_eq!(
            readiness.check(),
            Err("redis: not connected yet".to_owned())
        );
        readiness.redis.set(Availability::Up);
        assert_eq!(readiness.check(), Ok(()));
        readiness.set_blocker("warm-up", Some("loading game data".to_owned()));
        assert_eq!(
            readiness.check(),
            Err("warm-up: loading game data".to_owned())
        );
        readiness.set_blocker("warm-up", None);
        assert_eq!(readiness.check(), Ok(()));
        // Degraded is still ready, with the reason kept for the operator.
        assert!(readiness.set_degraded("database", Some("connection refused".to_owned())));
        assert!(!readiness.set_degraded("database", Some("connection refused".to_owned())));
        assert_eq!(readiness.check(), Ok(()));
        assert_eq!(
            readiness.degraded().get("database").map(String::as_str),
            Some("connection refused")
        );
        assert!(readiness.set_degraded("database", None));
        assert!(readiness.degraded().is_empty());
        readiness.redis.set(Availability::Down(
            "127.0.0.1:7000: connection refused".to_owned(),
        ));
        assert!(
            readiness
                .check()
                .is_err_and(|r| r.starts_with("redis unavailable"))
        );
        readiness.redis.set(Availability::Up);
        readiness.set_draining();
        assert_eq!(readiness.check(), Err("draining: shutting down".to_owned()));
    }
}
