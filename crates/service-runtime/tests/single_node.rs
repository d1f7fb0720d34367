//! The same runtime against one plain (non-cluster) Redis: `redis.mode = "single"`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::KeysInterface;
use service_runtime::lease::Lease;
use service_runtime::publish::Publisher;
use service_runtime::subscriptions::{SubscriptionConfig, Subscriptions};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn single_node_mode_reads_writes_publishes_and_leases() {
    let redis_server = testkit::StandaloneRedis::start()
        .await
        .expect("a standalone redis-server");
    let mut config =
        common::redis_config(&[redis_server.url()], &testkit::unique_namespace("single"));
    config.mode = "single".to_owned();
    config.validate().expect("valid single-node config");
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");

    let key = keys.player("alice").session();
    let _: () = redis
        .set(&key, "gw-1", None, None, false)
        .await
        .expect("set");
    let value: Option<String> = redis.get(&key).await.expect("get");
    assert_eq!(value.as_deref(), Some("gw-1"));

    let lease = Lease::new(keys.lease("unit"), Duration::from_secs(5));
    assert!(lease.try_acquire(&redis).await.expect("acquire"));
    assert!(
        !Lease::new(keys.lease("unit"), Duration::from_secs(5))
            .try_acquire(&redis)
            .await
            .expect("acquire")
    );

    let stop = CancellationToken::new();
    let publisher = Publisher::new(redis.clone());
    let subscriptions = Subscriptions::start(
        &redis,
        publisher.clone(),
        keys.clone(),
        "single-test",
        SubscriptionConfig::from_redis(&config),
        stop.clone(),
    );
    let channel = keys.player("alice").inbox_channel();
    let mut sub = subscriptions.subscribe(&channel).await.expect("subscribed");
    assert_eq!(
        publisher
            .publish(&channel, Bytes::from("hi"))
            .await
            .expect("published"),
        1
    );
    let got = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("in time");
    assert_eq!(got, Some(Bytes::from("hi")));

    // The canary of the one node is heard, so the supervisor knows the path is alive.
    let heard = testkit::wait_until("the canary to be heard", Duration::from_secs(10), || {
        let paths = subscriptions.shard_paths();
        async move { (paths.len() == 1 && paths[0].1.is_some()).then_some(()) }
    })
    .await;
    assert!(
        heard.is_ok(),
        "{heard:?}: {:?}",
        subscriptions.shard_paths()
    );
    stop.cancel();
}
