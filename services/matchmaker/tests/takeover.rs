//! Killing the matchmaker that holds the queues (SIGKILL, no lease released) mid-traffic:
//! another instance takes them over within the lease TTL and matching goes on; no ticket
//! is lost or matched twice.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use queues::{JoinOutcome, TicketStatus};

const PLAYERS: usize = 200;
const LEASE_MS: u64 = 1500;

#[tokio::test]
async fn a_killed_holder_is_replaced_within_the_lease_and_nothing_is_lost() {
    let ns = testkit::unique_namespace("takeover");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
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

/// Two processes started with the same instance id (a copy-pasted config) never both hold
/// a queue: a lease's owner token carries each process's own random part, so the second
/// process's attempts find the lease taken (counted as busy) instead of extending it as
/// its own.
#[tokio::test]
async fn two_processes_with_one_instance_id_never_both_hold_a_queue() {
    let ns = testkit::unique_namespace("twins");
    let overrides = [("instance.id", "twin"), ("matchmaker.lease_ms", "600")];
    let first = common::start_process(&ns, &overrides).await;
    let second = common::start_process(&ns, &overrides).await;
    let gauge = |metrics: &str, series: &str| testkit::metric_value(metrics, series).unwrap_or(0.0);
    // Both have had their chance: the later one found every queue taken at least twice.
    let held = testkit::wait_until(
        "both instances to have tried every queue",
        Duration::from_secs(20),
        || async {
            let a = testkit::metrics_text(&first.ops).await?;
            let b = testkit::metrics_text(&second.ops).await?;
            let busy =
                gauge(&a, "rallypoint_lease_busy_total") + gauge(&b, "rallypoint_lease_busy_total");
            let held = gauge(&a, "rallypoint_matchmaker_units_held")
                + gauge(&b, "rallypoint_matchmaker_units_held");
            assert!(held <= 4.0, "the twins hold {held} of 4 queues");
            (busy >= 8.0).then_some(held)
        },
    )
    .await
    .expect("in time");
    assert_eq!(held, 4.0, "each of the 4 queue-regions is held once");
    first.kill().await;
    second.kill().await;
}

/// Fencing proven: a holder held just before its claim, then paused (SIGSTOP) past its
/// lease while another instance takes the queue over and matches the same players, is
/// refused by the claim script when it resumes (`not_holder`, counted in
/// `rallypoint_lease_fenced_total`), and every player is in exactly one match.
#[tokio::test]
async fn a_paused_holder_is_refused_its_claim_when_it_resumes() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let ns = testkit::unique_namespace("mmfence");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    let players = ["ann", "bob"];
    for player in players {
        common::online(&redis, &keys, player).await;
    }
    let holds = tempfile::tempdir().expect("a hold directory");
    let gate = holds.path().join("matchmaker.claim");
    std::fs::write(&gate, b"").expect("the claim held");
    let mut env = common::env_for(&ns, &common::ANY_RATING);
    env.push((
        service_runtime::hold::HOLD_DIR.to_owned(),
        holds.path().to_string_lossy().into_owned(),
    ));
    let binary = testkit::binary_beside_test("matchmaker").expect("the matchmaker binary");
    let paused = testkit::ServiceChild::start(&binary, &env)
        .await
        .expect("the matchmaker starts");
    common::eventually(
        "the first instance to hold duel/eu",
        Duration::from_secs(10),
        || async {
            common::holder_of(&redis, &keys, "duel", "eu")
                .await
                .as_deref()
                == Some(paused.instance.as_str())
        },
    )
    .await;
    for player in players {
        let joined = tickets.join(player, "duel", "eu").await.expect("join");
        assert!(matches!(joined, JoinOutcome::Joined(_)));
    }
    let held = holds.path().join("matchmaker.claim.held");
    common::eventually("the claim to be held", Duration::from_secs(10), || async {
        held.exists()
    })
    .await;

    // Paused past its lease; another instance takes the queue and matches the players.
    let pid = Pid::from_raw(paused.pid().expect("a pid") as i32);
    kill(pid, Signal::SIGSTOP).expect("paused");
    let other = common::start(&ns, &common::ANY_RATING).await;
    common::eventually(
        "the other to match both",
        Duration::from_secs(15),
        || async {
            common::live_match(&redis, &keys, "ann").await.is_some()
                && common::live_match(&redis, &keys, "bob").await.is_some()
        },
    )
    .await;

    // Resumed at the hold point, it tries its claim with its stale lease.
    std::fs::remove_file(&gate).expect("released");
    kill(pid, Signal::SIGCONT).expect("resumed");
    let fenced = testkit::wait_until(
        "the stale claim to be refused",
        Duration::from_secs(10),
        || async {
            let metrics = testkit::metrics_text(&paused.ops).await?;
            testkit::metric_value(&metrics, "rallypoint_lease_fenced_total").filter(|n| *n >= 1.0)
        },
    )
    .await;
    assert!(fenced.is_ok(), "{fenced:?}");
    let handed = common::handed_over(&redis, &keys, "eu").await;
    assert_eq!(handed.len(), 1, "one match: {handed:?}");
    let record = handed.values().next().expect("a match");
    let mut in_it: Vec<&str> = record.players().map(|p| p.player.as_str()).collect();
    in_it.sort_unstable();
    assert_eq!(in_it, players);
    other.stop().await.expect("stops");
    paused.kill().await;
}
