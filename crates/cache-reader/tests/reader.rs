//! The read path against the real cluster, PostgreSQL and a cache-warmer: which layer
//! answers, that an update plus invalidation is what the next read sees, that no local
//! copy outlives its TTL even when the invalidation is lost, and that a miss nobody can
//! warm is `unavailable` in bounded time.

#[path = "../../../services/cache-warmer/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use cache_reader::{CacheReader, LookupTotals, ReadError, ReaderConfig};
use fred::prelude::HashesInterface;
use service_runtime::publish::Publisher;
use service_runtime::subscriptions::{SubscriptionConfig, Subscriptions};
use tokio_util::sync::CancellationToken;

fn reader(keys: &core_keys::Keys, redis: &fred::prelude::Client, ttl_ms: u64) -> CacheReader {
    CacheReader::new(
        keys.clone(),
        redis.clone(),
        ReaderConfig {
            ttl: Duration::from_millis(ttl_ms),
            capacity: 1000,
            warm_wait: Duration::from_millis(3000),
            stats_flush: Duration::from_millis(100),
        },
    )
}

fn subscriptions(
    keys: &core_keys::Keys,
    redis: &fred::prelude::Client,
    stop: &CancellationToken,
) -> Subscriptions {
    Subscriptions::start(
        redis,
        Publisher::new(redis.clone()),
        keys.clone(),
        &format!("reader-test-{}", keys.namespace()),
        SubscriptionConfig {
            buffer: 64,
            topology_check_interval: Duration::from_secs(5),
            canary_interval: Duration::from_secs(1),
            canary_timeout: Duration::from_secs(10),
        },
        stop.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_come_from_the_nearest_layer_and_follow_an_invalidation() {
    let ns = testkit::unique_namespace("reader");
    let player = format!("p-{ns}");
    let db = common::db().await;
    common::set_rating(&db, &player, 1610.0).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let warmer = common::start(&ns, &[]).await;
    let stop = CancellationToken::new();
    let subs = subscriptions(&keys, &redis, &stop);
    // A long TTL: only the invalidation can make the reader see the change.
    let reader = reader(&keys, &redis, 600_000);
    let _following = reader
        .follow_invalidations(&subs)
        .await
        .expect("subscribed");
    reader.spawn_stats_flush(stop.clone());

    // Not in Redis yet: the reader asks the warmer and gets it.
    let first = reader.profile(&player).await.expect("warmed on request");
    assert_eq!(
        (first.rating, first.display_name.as_str()),
        (1610.0, player.as_str())
    );
    let again = reader.profile(&player).await.expect("cached");
    assert_eq!(again, first);
    assert_eq!(
        reader.totals(),
        LookupTotals {
            local_hits: 1,
            redis_hits: 0,
            redis_misses: 1
        }
    );

    // Renamed in PostgreSQL, then invalidated by an operator: the next read sees it.
    persistence::players::rename(&db, &player, "Renamed")
        .await
        .expect("renamed");
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/cache/invalidate", warmer.ops_addr))
        .bearer_auth(common::ADMIN)
        .json(&serde_json::json!({ "players": [player] }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    // With a TTL of ten minutes only the invalidation can drop the local copy: the first
    // read after it reached the reader sees the new name.
    let renamed = testkit::wait_until(
        "the reader to drop its copy",
        Duration::from_secs(10),
        || async {
            let read = reader.profile(&player).await.ok()?;
            (read.display_name == "Renamed").then_some(read)
        },
    )
    .await
    .expect("in time");
    assert!(renamed.version > first.version);
    assert!(reader.invalidations_seen() >= 1);
    assert_eq!(
        reader.totals().redis_hits,
        1,
        "re-read from Redis once, after the eviction"
    );

    // The counts reach the cluster-wide hit rate.
    let totals = reader.totals();
    let expected = (totals.local_hits + totals.redis_hits) as f64
        / (totals.local_hits + totals.redis_hits + totals.redis_misses) as f64;
    testkit::wait_until(
        "the counts to be flushed",
        Duration::from_secs(10),
        || async {
            let stats = testkit::operator_stats(warmer.ops_addr, common::ADMIN).await;
            let rate = stats["cache"]["hit_rate"].as_f64()?;
            ((rate - expected).abs() < 1e-9).then_some(())
        },
    )
    .await
    .expect("in time");

    stop.cancel();
    warmer.stop().await.expect("stops");
}

#[tokio::test]
async fn a_local_copy_never_outlives_its_ttl_even_without_an_invalidation() {
    let ns = testkit::unique_namespace("ttl");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let profile = keys.player("ttl-player").profile();
    let _: i64 = redis
        .hset(
            &profile,
            [("rating", "1500"), ("version", "1"), ("name", "old")],
        )
        .await
        .expect("seeded");
    let ttl = Duration::from_millis(300);
    // No invalidation subscription: only the TTL can end a local copy.
    let reader = reader(&keys, &redis, ttl.as_millis() as u64);
    let first = reader.profile("ttl-player").await.expect("read");
    assert_eq!(first.display_name, "old");
    // The copy was made before the read returned, so it must be gone a TTL after this
    // (give or take the cache clock's millisecond).
    let cached_at = Instant::now();
    let slack = Duration::from_millis(2);
    let _: i64 = redis
        .hset(&profile, [("name", "new"), ("version", "2")])
        .await
        .expect("changed");
    // Stale reads are allowed only within the TTL of the first read.
    loop {
        let asked_at = Instant::now();
        let name = reader
            .profile("ttl-player")
            .await
            .expect("read")
            .display_name
            .clone();
        if name == "new" {
            break;
        }
        assert!(
            asked_at.duration_since(cached_at) < ttl + slack,
            "served a copy {:?} old with a TTL of {ttl:?}",
            asked_at.duration_since(cached_at)
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_miss_nobody_warms_is_unavailable_in_bounded_time() {
    let ns = testkit::unique_namespace("nobody");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let reader = CacheReader::new(
        keys,
        redis,
        ReaderConfig {
            warm_wait: Duration::from_millis(300),
            ..ReaderConfig::default()
        },
    );
    let started = Instant::now();
    assert!(matches!(
        reader.profile("ghost").await,
        Err(ReadError::Unavailable(_))
    ));
    assert!(matches!(
        reader.document("maps", "x").await,
        Err(ReadError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn game_data_is_read_at_its_version_and_missing_documents_are_none() {
    let ns = testkit::unique_namespace("docs");
    let kind = format!("maps-{ns}");
    let db = common::db().await;
    let version = persistence::game_data::put(&db, &kind, "dust", &serde_json::json!({"size": 3}))
        .await
        .expect("put");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let warmer = common::start(&ns, &[]).await;
    let reader = reader(&keys, &redis, 5000);
    let doc = reader
        .document(&kind, "dust")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(doc.version as i64, version);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&doc.json).expect("json")["size"],
        3
    );
    assert!(
        reader
            .document(&kind, "nowhere")
            .await
            .expect("read")
            .is_none()
    );
    warmer.stop().await.expect("stops");
}
