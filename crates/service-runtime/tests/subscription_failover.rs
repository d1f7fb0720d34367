//! Sharded subscriptions keep delivering while the cluster changes under them, without
//! restarting anything: a `CLUSTER FAILOVER` of the channel's master, a migration of the
//! channel's slot to another master, and a SIGKILL of the channel's master. Each phase
//! prints how long delivery was interrupted.
//!
//! Runs on a private 6-node cluster (it would disturb the shared one).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use service_runtime::publish::Publisher;
use service_runtime::subscriptions::{
    Subscription, SubscriptionConfig, Subscriptions, SupervisorEvent,
};
use testkit::PrivateCluster;
use tokio_util::sync::CancellationToken;

/// After a change, a phase ends once this many further messages were published and the
/// last of them arrived: delivery is steady again, not just one lucky message.
const STEADY: u64 = 10;

/// How long a phase may take before the test fails.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

/// Reads the subscription and checks order and uniqueness across phases.
struct Probe {
    sub: Subscription,
    last_seq: Option<u64>,
    received: u64,
}

impl Probe {
    /// Receives until a message published at or after `resume_seq` arrives. Returns the
    /// longest silence between two deliveries (or since `since`).
    async fn until(&mut self, resume_seq: u64, since: Instant) -> Result<Duration, String> {
        let mut last_at = since;
        let mut longest = Duration::ZERO;
        let deadline = Instant::now() + RECOVERY_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, self.sub.recv())
                .await
                .map_err(|_| {
                    format!("no delivery of seq >= {resume_seq} within {RECOVERY_DEADLINE:?}")
                })?
                .ok_or("the subscription ended")?;
            let now = Instant::now();
            longest = longest.max(now - last_at);
            last_at = now;
            let seq: u64 = std::str::from_utf8(&message)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("unexpected payload {message:?}"))?;
            if let Some(last) = self.last_seq
                && seq <= last
            {
                return Err(format!("seq {seq} after {last}: a duplicate or reordering"));
            }
            self.last_seq = Some(seq);
            self.received += 1;
            if seq >= resume_seq {
                return Ok(longest);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_subscriptions_survive_failover_migration_and_a_killed_master() {
    let mut cluster = PrivateCluster::start(3, 1)
        .await
        .expect("a private cluster");
    let seeds: Vec<String> = cluster.seed_urls().into_iter().take(3).collect();
    let config = common::redis_config(&seeds, &testkit::unique_namespace("failover"));
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");
    let stop = CancellationToken::new();
    let publisher = Publisher::new(redis.clone());
    let subscriptions = Subscriptions::start(
        &redis,
        publisher.clone(),
        keys.clone(),
        "failover-test",
        SubscriptionConfig::from_redis(&config),
        stop.clone(),
    );
    let mut events = subscriptions.events();
    let channel = keys.player("alice").inbox_channel();
    let slot = core_keys::slot_of(&channel);
    let mut probe = Probe {
        sub: subscriptions.subscribe(&channel).await.expect("subscribed"),
        last_seq: None,
        received: 0,
    };

    // A publisher sending a sequence number every 20 ms, for the whole test.
    let next_seq = Arc::new(AtomicU64::new(0));
    let publishing = {
        let (publisher, channel, next_seq, stop) = (
            publisher.clone(),
            channel.clone(),
            next_seq.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            while !stop.is_cancelled() {
                tick.tick().await;
                let seq = next_seq.fetch_add(1, Ordering::SeqCst);
                // Failures while the cluster changes are expected: pub/sub is a hint.
                let _lost_during_change = publisher
                    .publish(&channel, Bytes::from(seq.to_string()))
                    .await;
            }
        })
    };
    let baseline = probe
        .until(5, Instant::now())
        .await
        .expect("delivery before any change");
    eprintln!("baseline: longest gap {baseline:?}");

    // 1. A graceful failover of the channel's master.
    let started = Instant::now();
    let (master, replica) = cluster
        .fail_over_slot(slot, RECOVERY_DEADLINE)
        .await
        .expect("failed over");
    let resume = next_seq.load(Ordering::SeqCst) + STEADY;
    let gap = probe
        .until(resume, started)
        .await
        .expect("delivery resumes after CLUSTER FAILOVER");
    eprintln!("CLUSTER FAILOVER {master} -> {replica}: delivery interrupted for at most {gap:?}");

    // 2. The channel's slot migrates to another master, once every node agrees on the
    // roles the failover changed (SETSLOT goes to masters only).
    cluster
        .wait_healthy(RECOVERY_DEADLINE)
        .await
        .expect("healthy after the failover");
    let owner = cluster.master_of_slot(slot).await.expect("owner");
    let target = cluster
        .masters()
        .await
        .expect("masters")
        .into_iter()
        .find(|m| *m != owner)
        .expect("another master");
    let started = Instant::now();
    cluster
        .migrate_empty_slot(slot, target)
        .await
        .expect("migrated");
    let resume = next_seq.load(Ordering::SeqCst) + STEADY;
    let gap = probe
        .until(resume, started)
        .await
        .expect("delivery resumes after the slot migrated");
    eprintln!("slot {slot} migrated {owner} -> {target}: delivery interrupted for at most {gap:?}");

    // 3. The channel's master is killed; its replica takes over after the node timeout.
    let owner = cluster.master_of_slot(slot).await.expect("owner");
    let started = Instant::now();
    cluster.kill_node(owner).await;
    testkit::wait_until(
        "a replica to replace the killed master",
        RECOVERY_DEADLINE,
        || async {
            let now = cluster.master_of_slot(slot).await.ok()?;
            (now != owner).then_some(())
        },
    )
    .await
    .expect("replaced");
    let resume = next_seq.load(Ordering::SeqCst) + STEADY;
    let gap = probe
        .until(resume, started)
        .await
        .expect("delivery resumes after the master was killed");
    eprintln!("master {owner} killed: delivery interrupted for at most {gap:?}");

    // The supervisor said what it did: it restored the subscription at least once per
    // change, and noticed the dead path of the killed master through its canary or the
    // slot map.
    let mut restored = 0;
    while let Ok(event) = events.try_recv() {
        eprintln!("supervisor: {event:?}");
        if matches!(event, SupervisorEvent::Resubscribed { .. }) {
            restored += 1;
        }
    }
    assert!(
        restored >= 3,
        "expected a restore per change, saw {restored}"
    );
    eprintln!(
        "{} of {} messages received, in order, none twice",
        probe.received,
        next_seq.load(Ordering::SeqCst)
    );
    stop.cancel();
    publishing.await.expect("publisher ends");
}
