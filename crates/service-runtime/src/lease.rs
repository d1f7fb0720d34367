//! Leases: work that one instance must do at a time (match a queue, reap a region's dead
//! servers, warm a data set) is held by a lease.
//!
//! A lease is a key holding the holder's random owner token with a TTL (`SET NX PX`). It
//! is renewed and released only by compare-and-delete scripts (`lease_*.lua`), so an
//! instance that paused past its TTL can never extend or delete a lease another instance
//! has since taken. Scripts that do leased work can check the token too (fencing): the
//! lease key of a queue lives in the queue's slot for that reason (see `core_keys`).
//!
//! Units spread over a service's instances by [`FairShare`]: an instance holding more
//! than its share (units / live instances, rounded up) hands the excess back, and one at
//! its share lets less busy instances try first, so a task added by scale-out gets work.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use core_keys::scripts;
use fred::prelude::Client;

use crate::script::LuaScript;

static ACQUIRE: LuaScript<i64> = LuaScript::new(include_str!("lease/lease_acquire.lua"));
static RENEW: LuaScript<i64> = LuaScript::new(include_str!("lease/lease_renew.lua"));
static RELEASE: LuaScript<i64> = LuaScript::new(include_str!("lease/lease_release.lua"));

/// One lease, as seen by one would-be holder.
#[derive(Debug, Clone)]
pub struct Lease {
    key: String,
    owner: String,
    ttl: Duration,
}

impl Lease {
    /// A lease on `key` with a fresh random owner token.
    pub fn new(key: impl Into<String>, ttl: Duration) -> Self {
        Self::with_owner(key, format!("{}", uuid::Uuid::new_v4().simple()), ttl)
    }

    /// A lease on `key` for `owner` (e.g. `<instance>/<unit>`), which the token carries
    /// followed by `#` and this process's own random [`process_token`]: two processes
    /// given the same instance id (a copy-pasted config) still never both hold a lease,
    /// and a restarted process never mistakes its previous life's lease for its own.
    pub fn with_owner(key: impl Into<String>, owner: impl Into<String>, ttl: Duration) -> Self {
        Self {
            key: key.into(),
            owner: format!("{}#{}", owner.into(), process_token()),
            ttl,
        }
    }

    /// The lease key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// This holder's owner token (what fencing scripts compare against).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease length.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the lease if free (or extends it if already ours). True if we hold it now.
    pub async fn try_acquire(&self, redis: &Client) -> Result<bool, fred::error::Error> {
        self.run(&ACQUIRE, redis, true).await
    }

    /// Extends the lease if we still hold it. False means it was lost: stop the work.
    pub async fn renew(&self, redis: &Client) -> Result<bool, fred::error::Error> {
        self.run(&RENEW, redis, true).await
    }

    /// Gives the lease up if we hold it, so another instance can take it at once.
    pub async fn release(&self, redis: &Client) -> Result<bool, fred::error::Error> {
        self.run(&RELEASE, redis, false).await
    }

    async fn run(
        &self,
        script: &LuaScript<i64>,
        redis: &Client,
        with_ttl: bool,
    ) -> Result<bool, fred::error::Error> {
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .to_string();
        let args = if with_ttl {
            vec![self.owner.clone(), ttl_ms]
        } else {
            vec![self.owner.clone()]
        };
        let held = script.run(redis, scripts::lease(&self.key), args).await?;
        Ok(held == 1)
    }
}

/// A random token made once per process, in every lease owner token it writes.
pub fn process_token() -> &'static str {
    static TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut token = uuid::Uuid::new_v4().simple().to_string();
        token.truncate(12);
        token
    });
    &TOKEN
}

/// How often a holder should renew a lease of length `ttl`: three times per TTL, so
/// two lost renewals in a row still keep it.
pub fn renew_interval(ttl: Duration) -> Duration {
    ttl / 3
}

/// What a [`LeaseKeeper`] check changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The lease is ours now (start the work: load state afresh).
    Gained,
    /// The lease is no longer ours (stop the work; another instance does it).
    Lost,
    Unchanged,
}

/// Holds a lease for a unit of work on a schedule: tries to take it while not held and
/// renews it while held, each every third of its TTL. The one lease loop every leased
/// worker (a matchmaker's queue, a server pool's region) uses.
///
/// It also owns the unit's gauges ([`LeaseKeeper::with_unit_gauges`]): only the holder
/// reports a unit's figures (the alarms take the maximum over instances), so whenever
/// this instance stops holding the lease, however it learns so, the keeper sets them to
/// zero, and a former holder's last figure never outvotes the new holder's.
#[derive(Debug)]
pub struct LeaseKeeper {
    lease: Lease,
    held: bool,
    next_check: tokio::time::Instant,
    unit_gauges: Vec<metrics::Gauge>,
    share: Option<Arc<FairShare>>,
    /// At its share, the keeper skips one chance to take a free lease (others go first).
    deferred: bool,
    /// When this instance last took the lease: a unit is kept a while before being
    /// handed back, so units do not bounce while instance counts settle.
    held_since: tokio::time::Instant,
}

impl LeaseKeeper {
    pub fn new(lease: Lease) -> Self {
        Self {
            lease,
            held: false,
            next_check: tokio::time::Instant::now(),
            unit_gauges: Vec::new(),
            share: None,
            deferred: false,
            held_since: tokio::time::Instant::now(),
        }
    }

    /// Counts this lease in `share`, the units of one kind this instance holds, and keeps
    /// this instance near its fair share of them ([`FairShare`]).
    pub fn with_share(mut self, share: Arc<FairShare>) -> Self {
        self.share = Some(share);
        self
    }

    /// The gauges that describe the unit this lease guards; zeroed when the lease goes.
    pub fn with_unit_gauges(mut self, gauges: impl IntoIterator<Item = metrics::Gauge>) -> Self {
        self.unit_gauges.extend(gauges);
        self
    }

    /// No longer holding: the unit's gauges are the new holder's to report.
    fn stop_holding(&mut self) {
        if self.held
            && let Some(share) = &self.share
        {
            share.left();
        }
        self.held = false;
        for gauge in &self.unit_gauges {
            gauge.set(0.0);
        }
    }

    fn start_holding(&mut self) {
        self.held = true;
        self.held_since = tokio::time::Instant::now();
        if let Some(share) = &self.share {
            share.joined();
        }
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Takes or renews the lease if a check is due. A Redis error changes nothing (the
    /// check is retried on the next call): work done meanwhile is fenced by the lease.
    pub async fn check(&mut self, redis: &Client) -> Transition {
        let now = tokio::time::Instant::now();
        if now < self.next_check {
            return Transition::Unchanged;
        }
        let interval = renew_interval(self.lease.ttl());
        if let Some(share) = self.share.clone() {
            let settled = now.duration_since(self.held_since) >= 3 * interval;
            if self.held && settled && share.hand_back_one() {
                // More than our share: give this unit to a less busy instance. Wait two
                // rounds before trying again, so one of them takes it first.
                tracing::info!(lease = %self.lease.key(), "holding more than this instance's share; handing the unit to another instance");
                if let Err(err) = self.lease.release(redis).await {
                    tracing::debug!(lease = %self.lease.key(), error = %err, "could not release; the lease lapses by itself");
                }
                self.held = false; // `hand_back_one` already counted it out
                for gauge in &self.unit_gauges {
                    gauge.set(0.0);
                }
                self.next_check = now + 2 * interval;
                return Transition::Lost;
            }
            if !self.held && share.at_share() && !self.deferred {
                self.deferred = true;
                self.next_check = now + interval;
                return Transition::Unchanged;
            }
            self.deferred = false;
        }
        let result = if self.held {
            self.lease.renew(redis).await
        } else {
            self.lease.try_acquire(redis).await
        };
        match result {
            Ok(held) => {
                self.next_check = now + interval;
                match (self.held, held) {
                    (false, true) => {
                        self.start_holding();
                        Transition::Gained
                    }
                    (true, false) => {
                        self.stop_holding();
                        Transition::Lost
                    }
                    (false, false) => {
                        // Another instance holds it: the contention operators may watch.
                        metrics::counter!("rallypoint_lease_busy_total").increment(1);
                        Transition::Unchanged
                    }
                    (true, true) => Transition::Unchanged,
                }
            }
            Err(err) => {
                tracing::debug!(lease = %self.lease.key(), error = %err, "lease check failed; retrying");
                Transition::Unchanged
            }
        }
    }

    /// A fenced step found the lease gone (a script answered `not_holder`: another
    /// instance took it while this one was paused or cut off): stop holding now. Counted
    /// (`rallypoint_lease_fenced_total`), since each is a write the fencing refused.
    pub fn lost(&mut self) {
        metrics::counter!("rallypoint_lease_fenced_total").increment(1);
        tracing::warn!(lease = %self.lease.key(), "a fenced write was refused: another instance holds the lease now");
        self.stop_holding();
    }

    /// Lets the lease go (on shutdown), so another instance takes over at once.
    pub async fn release(&mut self, redis: &Client) {
        if !self.held {
            return;
        }
        self.stop_holding();
        if let Err(err) = self.lease.release(redis).await {
            tracing::warn!(lease = %self.lease.key(), error = %err, "could not release a lease; it lapses by itself");
        }
    }
}

/// The units of one kind (queue-regions, regions) this instance holds, against its fair
/// share of them: `ceil(units / live instances of the service)`, refreshed from the
/// instance registry ([`FairShare::spawn_refresh`]). Shared by the instance's lease
/// keepers of that kind ([`LeaseKeeper::with_share`]).
#[derive(Debug)]
pub struct FairShare {
    units: usize,
    held: AtomicUsize,
    fair: AtomicUsize,
}

impl FairShare {
    /// `units` units; until the first refresh this instance may hold them all.
    pub fn new(units: usize) -> Arc<Self> {
        Arc::new(Self {
            units,
            held: AtomicUsize::new(0),
            fair: AtomicUsize::new(units.max(1)),
        })
    }

    /// Units held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// This instance's share now.
    pub fn fair(&self) -> usize {
        self.fair.load(Ordering::Relaxed)
    }

    /// Sets the share for `instances` live instances of the service.
    pub fn set_instances(&self, instances: usize) {
        let fair = self.units.div_ceil(instances.max(1)).max(1);
        self.fair.store(fair, Ordering::Relaxed);
    }

    fn joined(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    fn left(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| h.checked_sub(1));
    }

    fn at_share(&self) -> bool {
        self.held() >= self.fair()
    }

    /// Counts one unit out if this instance holds more than its share: true means the
    /// caller must give its unit back. Several keepers asking at once hand back only the
    /// excess.
    fn hand_back_one(&self) -> bool {
        let fair = self.fair();
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                (h > fair).then(|| h - 1)
            })
            .is_ok()
    }

    /// Refreshes the share every `interval` from how many instances of `service`
    /// announced themselves in the last three intervals (entries live `ttl`), until `stop`.
    pub fn spawn_refresh(
        self: &Arc<Self>,
        registry: crate::instances::Registry,
        redis: Client,
        service: &'static str,
        interval: Duration,
        ttl: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let share = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticker.tick() => match registry.count_live(&redis, service, 3 * interval, ttl).await {
                        Ok(instances) => share.set_instances(instances),
                        Err(err) => tracing::debug!(error = %err, "cannot count live instances; keeping the current share"),
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_hands_back_only_the_excess() {
        let share = FairShare::new(4);
        for _ in 0..4 {
            share.joined();
        }
        // Alone: all four are ours.
        assert!(!share.hand_back_one());
        // A second instance appears: two are ours; exactly two are handed back however
        // many keepers ask.
        share.set_instances(2);
        assert_eq!(share.fair(), 2);
        let handed = (0..4).filter(|_| share.hand_back_one()).count();
        assert_eq!((handed, share.held()), (2, 2));
        assert!(share.at_share());
        // Three instances, four units: a share of two (rounded up), so nothing moves.
        share.set_instances(3);
        assert_eq!(share.fair(), 2);
        assert!(!share.hand_back_one());
        // No instance listed (a registry hiccup) never means a share of zero.
        share.set_instances(0);
        assert_eq!(share.fair(), 4);
        share.left();
        share.left();
        share.left();
        assert_eq!(share.held(), 0, "never below zero");
    }

    #[test]
    fn a_keeper_that_stops_holding_zeroes_its_units_gauges() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let (depth, other) = metrics::with_local_recorder(&recorder, || {
            (
                metrics::gauge!("unit_depth", "region" => "eu"),
                metrics::gauge!("unit_depth", "region" => "us"),
            )
        });
        let mut keeper = LeaseKeeper::new(Lease::new("lease:eu", Duration::from_secs(5)))
            .with_unit_gauges([depth.clone()]);
        keeper.held = true;
        depth.set(42.0);
        other.set(7.0);
        keeper.lost();
        assert!(!keeper.is_held());
        let rendered = handle.render();
        assert!(
            rendered.contains(r#"unit_depth{region="eu"} 0"#),
            "{rendered}"
        );
        // Only the gauges it was given.
        assert!(
            rendered.contains(r#"unit_depth{region="us"} 7"#),
            "{rendered}"
        );
    }
}
