//! "Acknowledged means replicated" (docs/ARCHITECTURE.md): a result is answered as recorded
//! only once a replica has it, so killing the master right after the answer loses nothing;
//! with its replica paused the answer is 503 (retry), and the retry counts it once.

mod common;

use std::time::Duration;

use fred::prelude::{ClientLike, ListInterface};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use testkit::PrivateCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_answered_as_recorded_survives_the_loss_of_its_master() {
    let mut cluster = PrivateCluster::start(3, 1)
        .await
        .expect("a private cluster");
    let ns = testkit::unique_namespace("replicated");
    let urls = cluster.seed_urls().join(",");
    let overrides = [
        ("redis.urls", urls.as_str()),
        ("pool.replicas_to_ack", "1"),
        ("pool.replica_ack_timeout_ms", "500"),
    ];
    let pool = common::start(&ns, &overrides).await;
    let redis = service_runtime::redis::build_client(&common::config(&ns, &overrides).common.redis)
        .expect("client");
    redis.wait_for_connect().await.expect("connected");
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let api = common::Api::new(&pool);
    api.register("gs", "eu", 4).await;
    for id in ["late", "kept"] {
        common::pend(
            &redis,
            &keys,
            "eu",
            id,
            &[&format!("{id}-a"), &format!("{id}-b")],
        )
        .await;
        api.take("gs", id).await;
    }
    let outbox = keys.pool("eu").results_outbox();
    let slot = core_keys::slot_of(&outbox);
    let master = cluster.master_of_slot(slot).await.expect("a master");
    let replica = cluster.replica_of(master).await.expect("a replica");
    let gs = api.as_server("gs");
    let post = |id: &'static str| {
        let gs = gs.clone();
        async move {
            gs.call(
                "POST",
                &format!("/v1/matches/{id}/result"),
                Some(json!({"placements": [[format!("{id}-a")], [format!("{id}-b")]]})),
            )
            .await
        }
    };

    // Its replica paused: the result is written on the master but not confirmed, so the
    // game server is told to retry rather than that it is safe.
    let replica_pid = Pid::from_raw(cluster.pid(replica).expect("the replica runs") as i32);
    kill(replica_pid, Signal::SIGSTOP).expect("replica paused");
    let (status, body) = post("late").await;
    kill(replica_pid, Signal::SIGCONT).expect("replica resumed");
    assert_eq!(
        (status, body["error"].clone()),
        (503, json!("unavailable")),
        "{body}"
    );
    // The retry, once the replica has caught up, finds it recorded: counted once.
    let (status, body) = post("late").await;
    assert_eq!((status, body), (200, json!({"duplicate": true})));

    // Answered 202, then the master dies at once: the promoted replica has the result.
    let (status, body) = post("kept").await;
    assert_eq!((status, body), (202, json!({"recorded": true})));
    cluster.kill_node(master).await;
    testkit::wait_until(
        "the replica to take the dead master's slots",
        Duration::from_secs(60),
        || async { (cluster.master_of_slot(slot).await.ok()? == replica).then_some(()) },
    )
    .await
    .expect("failed over");
    let entries: Vec<String> = testkit::wait_until(
        "the outbox to be readable on the new master",
        Duration::from_secs(30),
        || async { redis.lrange(&outbox, 0, -1).await.ok() },
    )
    .await
    .expect("read");
    let matches: Vec<String> = entries
        .iter()
        .filter_map(|e| serde_json::from_str::<matches::ResultEntry>(e).ok())
        .map(|e| e.match_id)
        .collect();
    assert_eq!(
        matches,
        ["late", "kept"],
        "every result answered as recorded survived, once"
    );
    pool.stop().await.expect("stops");
    cluster.kill_all().await;
}

#[tokio::test]
async fn a_cluster_that_may_evict_is_reported_at_start() {
    let cluster = PrivateCluster::start(3, 0)
        .await
        .expect("a private cluster");
    let evicting = cluster.ports()[1];
    let set = cluster
        .cli(
            evicting,
            &["CONFIG", "SET", "maxmemory-policy", "volatile-lru"],
        )
        .await
        .expect("config set");
    assert!(set.contains("OK"), "{set}");
    let ns = testkit::unique_namespace("evicting");
    let urls = cluster.seed_urls().join(",");
    let pool = common::start(&ns, &[("redis.urls", urls.as_str())]).await;
    let ready = format!("http://{}/health/ready", pool.ops_addr);
    let detail = testkit::wait_until("the warning", Duration::from_secs(20), || async {
        let body: serde_json::Value = reqwest::get(&ready).await.ok()?.json().await.ok()?;
        body["degraded"]["redis_eviction"]
            .as_str()
            .map(str::to_owned)
    })
    .await
    .expect("reported");
    assert!(
        detail.contains(&format!("{evicting}=volatile-lru")) && detail.contains("noeviction"),
        "{detail}"
    );
    pool.stop().await.expect("stops");
}
