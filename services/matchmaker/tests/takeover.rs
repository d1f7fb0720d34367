//! Killing the matchmaker that holds the queues (SIGKILL, no lease released) mid-traffic:
//! another instance takes them over within the lease TTL and matching goes on; no ticket
//! is lost or matched twice.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use queues::{JoinOutcome, TicketStatus, Tickets};

const PLAYERS: usize = 200;
const LEASE_MS: u64 = 1500;

#[tokio::test]
async fn a_killed_holder_is_replaced_within_the_lease_and_nothing_is_lost() {
    let ns = testkit::unique_namespace("takeover");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = Tickets::new(
        keys.clone(),
        redis.clone(),
        queues::JoinPolicy::default_rating(1500.0),
    );
    for i in 0..PLAYERS {
        common::online(&redis, &keys, &format!("p{i}")).await;
    }
    let lease = LEASE_MS.to_string();
    let mut overrides = common::ANY_RATING.to_vec();
    overrides.push(("matchmaker.lease_ms", lease.as_str()));

    let doomed = common::start_process(&ns, &overrides).await;
    common::eventually(
        "the first instance to hold duel/eu",
        Duration::from_secs(10),
        || async {
            common::holder_of(&redis, &keys, "duel", "eu")
                .await
                .as_deref()
                == Some(doomed.instance.as_str())
        },
    )
    .await;
    let survivor = common::start(&ns, &overrides).await;

    // Players keep arriving while the holder is killed: once a quarter of them are in.
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let joiner = {
        let tickets = tickets.clone();
        let arrived = arrived.clone();
        tokio::spawn(async move {
            for i in 0..PLAYERS {
                let joined = tickets
                    .join(&format!("p{i}"), "duel", "eu")
                    .await
                    .expect("join");
                assert!(matches!(joined, JoinOutcome::Joined(_)));
                arrived.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Arrivals spread out, so some come after the kill.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    common::eventually(
        "a quarter of the players to be queued",
        Duration::from_secs(10),
        || async { arrived.load(std::sync::atomic::Ordering::Relaxed) >= PLAYERS / 4 },
    )
    .await;
    doomed.kill().await;
    let killed = Instant::now();
    joiner.await.expect("all joined");

    common::eventually(
        "the survivor to take the queue over",
        Duration::from_secs(10),
        || async {
            common::holder_of(&redis, &keys, "duel", "eu")
                .await
                .as_deref()
                == Some(survivor.instance_id.as_str())
        },
    )
    .await;
    let took_over = killed.elapsed();
    eprintln!("taken over {took_over:?} after the SIGKILL (lease {LEASE_MS} ms)");
    assert!(
        took_over < Duration::from_millis(LEASE_MS + 1500),
        "took over in {took_over:?}"
    );

    common::eventually(
        "every player to be matched",
        Duration::from_secs(15),
        || async {
            let mut matched = 0;
            for i in 0..PLAYERS {
                if common::live_match(&redis, &keys, &format!("p{i}"))
                    .await
                    .is_some()
                {
                    matched += 1;
                }
            }
            matched == PLAYERS
        },
    )
    .await;
    let mut appearances: HashMap<String, usize> = HashMap::new();
    for record in common::handed_over(&redis, &keys, "eu").await.values() {
        for p in record.players() {
            *appearances.entry(p.player.clone()).or_default() += 1;
        }
    }
    for i in 0..PLAYERS {
        let name = format!("p{i}");
        assert_eq!(
            appearances.get(&name),
            Some(&1),
            "{name} is in exactly one match"
        );
        assert!(matches!(
            tickets.status(&name).await.expect("status"),
            TicketStatus::Matched { .. }
        ));
    }
    survivor.stop().await.expect("stops");
}
