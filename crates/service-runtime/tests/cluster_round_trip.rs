//! Against the shared 6-node test cluster: keys on several slots (and so several shards)
//! written and read back, and a sharded publish/subscribe round trip.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{ClusterInterface, KeysInterface};
use service_runtime::publish::Publisher;
use service_runtime::subscriptions::{SubscriptionConfig, Subscriptions};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn writes_and_reads_keys_on_every_shard() {
    let config = common::redis_config(
        &testkit::redis_urls(),
        &testkit::unique_namespace("roundtrip"),
    );
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");
    let routing = redis
        .cached_cluster_state()
        .expect("the test stack is a cluster");
    assert_eq!(
        routing.unique_primary_nodes().len(),
        3,
        "the test cluster has 3 masters"
    );

    let players: Vec<String> = (0..60).map(|i| format!("player-{i}")).collect();
    let pipeline = redis.pipeline();
    for player in &players {
        let _: () = pipeline
            .set(
                keys.player(player).session(),
                player.as_str(),
                Some(fred::types::Expiration::EX(60)),
                None,
                false,
            )
            .await
            .expect("queued");
    }
    let _: Vec<fred::types::Value> = pipeline.all().await.expect("pipeline across slots");

    let mut shards = BTreeSet::new();
    for player in &players {
        let key = keys.player(player).session();
        let value: Option<String> = redis.get(&key).await.expect("get");
        assert_eq!(value.as_deref(), Some(player.as_str()));
        shards.insert(
            routing
                .get_server(core_keys::slot_of(&key))
                .expect("owned slot")
                .to_string(),
        );
    }
    assert_eq!(
        shards.len(),
        3,
        "60 players landed on {shards:?}, expected every shard"
    );
    let deleted: u64 = {
        let pipeline = redis.pipeline();
        for player in &players {
            let _: () = pipeline
                .del(keys.player(player).session())
                .await
                .expect("queued");
        }
        pipeline
            .all::<Vec<u64>>()
            .await
            .expect("delete")
            .into_iter()
            .sum()
    };
    assert_eq!(deleted, 60);
}

#[tokio::test]
async fn sharded_publish_reaches_every_subscriber_once() {
    let namespace = testkit::unique_namespace("pubsub");
    let config = common::redis_config(&testkit::redis_urls(), &namespace);
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");
    let stop = CancellationToken::new();
    let publisher = Publisher::new(redis.clone());
    let subscriptions = Subscriptions::start(
        &redis,
        publisher.clone(),
        keys.clone(),
        "test-instance",
        SubscriptionConfig::from_redis(&config),
        stop.clone(),
    );

    // Inboxes of players on different shards, one of them with two subscribers.
    let channels: Vec<String> = (0..6)
        .map(|i| keys.player(&format!("p{i}")).inbox_channel())
        .collect();
    let mut subs = Vec::new();
    for channel in &channels {
        subs.push(subscriptions.subscribe(channel).await.expect("subscribed"));
    }
    let mut second = subscriptions
        .subscribe(&channels[0])
        .await
        .expect("second subscriber");

    for (i, channel) in channels.iter().enumerate() {
        let receivers = publisher
            .publish(channel, Bytes::from(format!("hello {i}")))
            .await
            .expect("published");
        assert_eq!(
            receivers, 1,
            "one SSUBSCRIBE per channel, however many local subscribers"
        );
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .expect("delivered in time");
        assert_eq!(got, Some(Bytes::from(format!("hello {i}"))));
    }
    let got = tokio::time::timeout(Duration::from_secs(5), second.recv())
        .await
        .expect("delivered in time");
    assert_eq!(got, Some(Bytes::from("hello 0")));

    // Once: nothing else is waiting on any subscription.
    let receivers = publisher
        .publish(&channels[1], Bytes::from("marker"))
        .await
        .expect("published");
    assert_eq!(receivers, 1);
    let next = tokio::time::timeout(Duration::from_secs(5), subs[1].recv())
        .await
        .expect("marker in time");
    assert_eq!(
        next,
        Some(Bytes::from("marker")),
        "no duplicate came before the marker"
    );

    // Dropping the last subscription of a channel unsubscribes it.
    drop(subs.remove(2));
    let unsubscribed = testkit::wait_until(
        "the channel to be unsubscribed",
        Duration::from_secs(5),
        || {
            let publisher = publisher.clone();
            let channel = channels[2].clone();
            async move {
                (publisher
                    .publish(&channel, Bytes::from("gone"))
                    .await
                    .ok()?
                    == 0)
                    .then_some(())
            }
        },
    )
    .await;
    assert!(unsubscribed.is_ok(), "{unsubscribed:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_channel_resubscribed_right_after_its_last_subscriber_left_still_delivers() {
    let config = common::redis_config(&testkit::redis_urls(), &testkit::unique_namespace("churn"));
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");
    let stop = CancellationToken::new();
    let publisher = Publisher::new(redis.clone());
    let subscriptions = Subscriptions::start(
        &redis,
        publisher.clone(),
        keys.clone(),
        "churn-test",
        SubscriptionConfig::from_redis(&config),
        stop.clone(),
    );
    let channel = keys.player("flaky-connection").inbox_channel();
    // A player reconnecting over and over: the old socket's subscription is dropped just
    // as the new one subscribes, racing the manager's SUNSUBSCRIBE.
    for round in 0..50 {
        let old = subscriptions.subscribe(&channel).await.expect("subscribed");
        drop(old);
        let mut new = subscriptions
            .subscribe(&channel)
            .await
            .expect("subscribed again");
        // Publish until the new subscriber hears it (a publish in flight during the race
        // may be lost: pub/sub is a hint), for at most 5 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut delivered = false;
        while !delivered && std::time::Instant::now() < deadline {
            publisher
                .publish(&channel, Bytes::from(format!("r{round}")))
                .await
                .expect("published");
            delivered = tokio::time::timeout(Duration::from_millis(200), new.recv())
                .await
                .ok()
                .flatten()
                .is_some();
        }
        assert!(
            delivered,
            "round {round}: the new subscriber never heard a message"
        );
    }
    stop.cancel();
}

/// A burst far larger than any buffer between the socket and the subscriptions arrives
/// whole: the process is held up (its only thread busy) while the burst is published, so
/// the burst waits in the socket and is read at once when the process resumes. fred's
/// `on_message` channel held 4,096 messages and dropped the rest, which a busy gateway
/// met at 20,000 whispers/s (`make bench` lost 1,880); the subscriptions now take each
/// message where fred parses it.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_held_up_in_the_socket_arrives_whole() {
    const BURST: u64 = 20_000;
    let config = common::redis_config(&testkit::redis_urls(), &testkit::unique_namespace("burst"));
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");
    let stop = CancellationToken::new();
    let subscriptions = Subscriptions::start(
        &redis,
        Publisher::new(redis.clone()),
        keys.clone(),
        "burst-test",
        SubscriptionConfig::from_redis(&config),
        stop.clone(),
    );
    let channel = keys.player("burst").inbox_channel();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![0_u32; BURST as usize]));
    let _subscription = {
        let seen = seen.clone();
        subscriptions
            .subscribe_with(&channel, move |payload| {
                let seq: Option<usize> = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|s| s.parse().ok());
                let mut seen = seen.lock().expect("not poisoned");
                if let Some(count) = seq.and_then(|seq| seen.get_mut(seq)) {
                    *count += 1;
                }
            })
            .await
            .expect("subscribed")
    };

    // Another process (a thread with a runtime of its own) publishes the burst while this
    // one's only thread is held up: nothing here reads the socket meanwhile.
    let publishing = {
        let (config, channel) = (config.clone(), channel.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let publisher = Publisher::new(common::connect(&config).await);
                let mut reached = 0;
                for chunk in (0..BURST).collect::<Vec<_>>().chunks(500) {
                    let sends = chunk
                        .iter()
                        .map(|seq| publisher.publish(&channel, Bytes::from(seq.to_string())));
                    for sent in futures::future::join_all(sends).await {
                        reached += sent.expect("published");
                    }
                }
                reached
            })
        })
    };
    let reached = publishing.join().expect("the publisher ran");
    assert_eq!(
        reached, BURST,
        "every message reached the subscribed process"
    );

    // How many of the burst's messages arrived at least once.
    let delivered = |seen: &std::sync::Mutex<Vec<u32>>| {
        let seen = seen.lock().expect("not poisoned");
        seen.iter().filter(|c| **c > 0).count() as u64
    };
    testkit::wait_until(
        "the whole burst to be delivered",
        Duration::from_secs(20),
        || {
            let seen = seen.clone();
            async move { (delivered(&seen) == BURST).then_some(()) }
        },
    )
    .await
    .unwrap_or_else(|_| panic!("{} of {BURST} messages delivered", delivered(&seen)));
    assert!(
        seen.lock().expect("not poisoned").iter().all(|c| *c == 1),
        "every message delivered once"
    );
    stop.cancel();
}
