//! The scaling and alarm gauges come from the instance that holds the work: one that
//! stops holding it (its lease taken) zeroes its figures, so the alarms, which take the
//! maximum over instances, never read a stale one (a stale free capacity would hide a
//! region that has none).

use std::time::Duration;

use rallypoint_tests::ServiceProcess;

/// The value of the `rallypoint_pool_free_capacity{region="eu"}` line of `/metrics`.
async fn free_capacity(ops: &str) -> Option<f64> {
    let metrics = testkit::metrics_text(ops).await?;
    testkit::metric_value(&metrics, r#"rallypoint_pool_free_capacity{region="eu"}"#)
}

#[tokio::test]
async fn a_pool_that_loses_its_region_zeroes_the_regions_gauges() {
    let ns = testkit::unique_namespace("gauges");
    let pool = ServiceProcess::start(
        "server-pool",
        &[
            ("RALLYPOINT_REDIS__NAMESPACE", ns.clone()),
            ("RALLYPOINT_POOL__LEASE_MS", "1500".to_owned()),
            ("RALLYPOINT_POOL__REAP_INTERVAL_MS", "200".to_owned()),
        ],
    )
    .await
    .expect("the pool starts");
    // One game server with 8 slots (its heartbeat lasts 60 s: longer than this test).
    let api = pool.endpoint("http").expect("the pool's API");
    let registered = reqwest::Client::new()
        .post(format!("http://{api}/v1/servers"))
        .bearer_auth("lifecycle-test-pool-token-0123")
        .json(&serde_json::json!({"id": "gs-gauges", "region": "eu", "address": "127.0.0.1:7777", "capacity": 8}))
        .send()
        .await
        .expect("registers");
    let status = registered.status().as_u16();
    let text = registered.text().await.unwrap_or_default();
    assert_eq!(status, 201, "{text}");
    testkit::wait_until(
        "the holder to report 8 free slots",
        Duration::from_secs(20),
        || async { (free_capacity(&pool.ops_addr).await == Some(8.0)).then_some(()) },
    )
    .await
    .expect("in time");

    // Another instance takes the region (as after a pause longer than the lease).
    let lease = core_keys::Keys::new(&ns)
        .expect("ns")
        .pool("eu")
        .allocator_lease();
    let seed = testkit::redis_urls()[0]
        .trim_start_matches("redis://")
        .to_owned();
    let (host, port) = seed.split_once(':').expect("host:port");
    let set = tokio::process::Command::new("redis-cli")
        .args([
            "-c",
            "-h",
            host,
            "-p",
            port,
            "SET",
            &lease,
            "someone-else/eu",
            "PX",
            "60000",
        ])
        .output()
        .await
        .expect("redis-cli runs");
    assert!(
        String::from_utf8_lossy(&set.stdout).contains("OK"),
        "{set:?}"
    );
    testkit::wait_until(
        "the old holder to zero its gauge",
        Duration::from_secs(20),
        || async { (free_capacity(&pool.ops_addr).await == Some(0.0)).then_some(()) },
    )
    .await
    .expect("in time");
    pool.terminate(Duration::from_secs(15))
        .await
        .expect("stops");
}
