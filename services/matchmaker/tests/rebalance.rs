//! Scaling out spreads the queue-regions: an instance holding every unit hands the excess
//! to a newly started one (each ends with its share), and takes them all back when the
//! other stops. Without this, a task added by scale-out would sit idle until a holder died.

mod common;

use std::collections::HashMap;
use std::time::Duration;

/// The four queue-regions of the default config.
const UNITS: [(&str, &str); 4] = [
    ("duel", "eu"),
    ("duel", "us"),
    ("squad", "eu"),
    ("squad", "us"),
];

/// How many units each instance holds now.
async fn holders(redis: &fred::prelude::Client, keys: &core_keys::Keys) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (queue, region) in UNITS {
        if let Some(holder) = common::holder_of(redis, keys, queue, region).await {
            *counts.entry(holder).or_default() += 1;
        }
    }
    counts
}

#[tokio::test]
async fn a_new_instance_gets_its_share_of_the_units_and_a_stopping_one_gives_them_back() {
    let ns = testkit::unique_namespace("rebalance");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let overrides = [("instance.announce_interval_ms", "200")];

    let first = common::start(&ns, &overrides).await;
    let alone = HashMap::from([(first.instance_id.clone(), 4)]);
    let within = Duration::from_secs(20);
    common::eventually(
        "the first instance to hold all four units",
        within,
        || async { holders(&redis, &keys).await == alone },
    )
    .await;

    let second = common::start(&ns, &overrides).await;
    let split = HashMap::from([
        (first.instance_id.clone(), 2),
        (second.instance_id.clone(), 2),
    ]);
    common::eventually("two units each", within, || async {
        holders(&redis, &keys).await == split
    })
    .await;

    // The second stops (releasing its leases): the first takes all four again.
    second.stop().await.expect("stops");
    common::eventually("the first to hold all four again", within, || async {
        holders(&redis, &keys).await == alone
    })
    .await;
    first.stop().await.expect("stops");
}
