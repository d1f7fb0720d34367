//! Leases against the shared test cluster: one winner among racing holders, compare-and-
//! delete release and renew, and takeover after a holder stops renewing.

mod common;

use std::time::{Duration, Instant};

use service_runtime::lease::Lease;

#[tokio::test]
async fn exactly_one_of_many_racing_holders_wins() {
    let config = common::redis_config(
        &testkit::redis_urls(),
        &testkit::unique_namespace("lease-race"),
    );
    let redis = common::connect(&config).await;
    let key = config.keys().expect("ns").queue("duel", "eu").lease();
    for round in 0..20 {
        let key = format!("{key}:{round}");
        let holders: Vec<Lease> = (0..8)
            .map(|_| Lease::new(key.clone(), Duration::from_secs(5)))
            .collect();
        let results =
            futures::future::join_all(holders.iter().map(|h| h.try_acquire(&redis))).await;
        let winners: Vec<&Lease> = holders
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r, Ok(true)))
            .map(|(h, _)| h)
            .collect();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {} holders won",
            winners.len()
        );
        let winner = winners[0];
        for loser in holders.iter().filter(|h| h.owner() != winner.owner()) {
            assert!(
                !loser.renew(&redis).await.expect("renew"),
                "a loser cannot renew"
            );
            assert!(
                !loser.release(&redis).await.expect("release"),
                "a loser cannot release"
            );
        }
        assert!(winner.renew(&redis).await.expect("renew"));
        assert!(
            winner.try_acquire(&redis).await.expect("re-acquire"),
            "acquire is re-entrant for the holder"
        );
        assert!(winner.release(&redis).await.expect("release"));
        assert!(
            !winner.renew(&redis).await.expect("renew"),
            "released means no longer held"
        );
    }
}

#[tokio::test]
async fn a_holder_that_stops_renewing_loses_the_lease_after_its_ttl() {
    let config = common::redis_config(
        &testkit::redis_urls(),
        &testkit::unique_namespace("lease-ttl"),
    );
    let redis = common::connect(&config).await;
    let key = config.keys().expect("ns").lease("reaper:eu");
    let ttl = Duration::from_millis(600);
    let stalled = Lease::new(key.clone(), ttl);
    let standby = Lease::new(key, ttl);

    let taken_at = Instant::now();
    assert!(stalled.try_acquire(&redis).await.expect("acquire"));
    assert!(
        !standby.try_acquire(&redis).await.expect("acquire"),
        "held leases are not shared"
    );

    // The stalled holder stops renewing; the standby keeps trying, as a service would.
    let took_over = testkit::wait_until(
        "the standby to take the lease",
        Duration::from_secs(5),
        || {
            let standby = standby.clone();
            let redis = redis.clone();
            async move { standby.try_acquire(&redis).await.ok().filter(|held| *held) }
        },
    )
    .await;
    assert!(took_over.is_ok(), "{took_over:?}");
    assert!(
        taken_at.elapsed() >= ttl,
        "taken over only after the TTL ({:?})",
        taken_at.elapsed()
    );

    // The stalled holder wakes up: it can neither renew nor release the standby's lease.
    assert!(!stalled.renew(&redis).await.expect("renew"));
    assert!(!stalled.release(&redis).await.expect("release"));
    assert!(
        standby
            .renew(&redis)
            .await
            .expect("the standby still holds it")
    );
}
