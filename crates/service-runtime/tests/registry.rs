//! The instance registry against the shared test cluster.

mod common;

use std::time::Duration;

use service_runtime::clock::now_ms;
use service_runtime::instances::{InstanceInfo, Registry};
use tokio_util::sync::CancellationToken;

fn info(service: &str, id: &str) -> InstanceInfo {
    InstanceInfo {
        service: service.into(),
        id: id.into(),
        version: "0.1.0".into(),
        address: "127.0.0.1:9100".into(),
        started_ms: now_ms(),
    }
}

#[tokio::test]
async fn live_instances_are_listed_and_lapsed_ones_are_not() {
    let config = common::redis_config(
        &testkit::redis_urls(),
        &testkit::unique_namespace("registry"),
    );
    let redis = common::connect(&config).await;
    let registry = Registry::new(config.keys().expect("ns"));

    let stop = CancellationToken::new();
    let announcer = registry.spawn_announcer(
        redis.clone(),
        info("gateway", "gw-1"),
        Some(std::sync::Arc::new(|| {
            Box::pin(async { Some(serde_json::json!({"connections": 7})) })
        })),
        Duration::from_millis(100),
        Duration::from_secs(2),
        stop.clone(),
    );
    // A crashed instance: announced once with a short TTL, never renewed.
    registry
        .announce(
            &redis,
            &info("matchmaker", "mm-dead"),
            None,
            Duration::from_millis(300),
        )
        .await
        .expect("announce");

    let live = testkit::wait_until("gw-1 to be announced", Duration::from_secs(5), || {
        let (registry, redis) = (registry.clone(), redis.clone());
        async move {
            registry
                .is_live(&redis, "gateway", "gw-1")
                .await
                .ok()
                .filter(|l| *l)
        }
    })
    .await;
    assert!(live.is_ok(), "{live:?}");
    let gateways = registry.live(&redis, Some("gateway")).await.expect("list");
    assert_eq!(gateways.len(), 1, "{gateways:?}");
    let mut expected = info("gateway", "gw-1");
    expected.started_ms = gateways[0].info.started_ms;
    assert_eq!(gateways[0].info, expected);
    // The figures the instance's source gave ride along with its announcement.
    assert_eq!(
        gateways[0].stats,
        Some(serde_json::json!({"connections": 7}))
    );
    assert!(gateways[0].announced_ms > 0);

    let lapsed = testkit::wait_until("mm-dead to lapse", Duration::from_secs(5), || {
        let (registry, redis) = (registry.clone(), redis.clone());
        async move {
            (!registry
                .is_live(&redis, "matchmaker", "mm-dead")
                .await
                .ok()?)
            .then_some(())
        }
    })
    .await;
    assert!(lapsed.is_ok(), "{lapsed:?}");
    assert!(
        registry
            .live(&redis, Some("matchmaker"))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        registry
            .is_live(&redis, "gateway", "gw-1")
            .await
            .expect("still renewed")
    );

    // A clean stop withdraws at once.
    stop.cancel();
    announcer.await.expect("announcer ends");
    assert!(
        !registry
            .is_live(&redis, "gateway", "gw-1")
            .await
            .expect("read")
    );
}
