//! Shared set-up of the cache-warmer's tests: warmers started in-process (or as the real
//! binary, to be killed) against the shared test cluster and PostgreSQL, and a view of
//! what they wrote.

#![allow(dead_code)]

use std::time::Duration;

use cache_warmer::CacheWarmer;
use fred::prelude::{Client, ClientLike, HashesInterface};
use service_runtime::{LoadedConfig, RunningService, Service};

pub const ADMIN: &str = "test-admin";

/// The environment of a test cache-warmer: quick timings, namespace `ns`, `overrides`.
pub fn env_for(ns: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let database = testkit::database_url();
    let mut defaults = vec![
        ("ops.admin_token", ADMIN),
        ("database.url", database.as_str()),
        ("warmer.lease_ms", "1500"),
        ("warmer.results_poll_ms", "50"),
        ("warmer.reconcile_interval_ms", "500"),
        ("warmer.data_refresh_interval_ms", "500"),
        ("shutdown.drain_deadline_ms", "5000"),
    ];
    defaults.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
    testkit::service_env(ns, &defaults, overrides)
}

pub fn config(ns: &str, overrides: &[(&str, &str)]) -> LoadedConfig {
    LoadedConfig::load_with_env(
        CacheWarmer::DEFAULTS,
        None,
        Some(env_for(ns, overrides).into_iter().collect()),
    )
    .expect("a valid test config")
}

/// Starts a cache-warmer in-process.
pub async fn start(ns: &str, overrides: &[(&str, &str)]) -> RunningService {
    service_runtime::start::<CacheWarmer>(config(ns, overrides))
        .await
        .expect("the cache-warmer starts")
}

/// Starts the real binary (to SIGKILL it).
pub async fn start_process(ns: &str, overrides: &[(&str, &str)]) -> testkit::ServiceChild {
    let binary =
        testkit::binary_beside_test("cache-warmer").expect("the cache-warmer binary is built");
    testkit::ServiceChild::start(&binary, &env_for(ns, overrides))
        .await
        .expect("the cache-warmer process starts")
}

/// A command connection to the test cluster.
pub async fn redis() -> Client {
    let config = config(&testkit::unique_namespace("probe"), &[]);
    let client = service_runtime::redis::build_client(&config.common.redis).expect("client");
    client.wait_for_connect().await.expect("connected");
    client
}

/// PostgreSQL, migrated.
pub async fn db() -> sqlx::PgPool {
    let pool = persistence::connect(&testkit::database_url(), 4, Duration::from_secs(10))
        .await
        .expect("connected");
    persistence::migrate(&pool).await.expect("migrated");
    pool
}

/// The cached profile's rating, if the profile is cached.
pub async fn cached_rating(redis: &Client, keys: &core_keys::Keys, player: &str) -> Option<f64> {
    let rating: Option<String> = redis
        .hget(keys.player(player).profile(), "rating")
        .await
        .expect("redis");
    rating.and_then(|r| r.parse().ok())
}

/// Sets a player's rating in PostgreSQL (creating them).
pub async fn set_rating(db: &sqlx::PgPool, player: &str, rating: f64) {
    persistence::players::create_missing(db, &[player.to_owned()], rating)
        .await
        .expect("created");
    sqlx::query("UPDATE players SET rating = $2, version = version + 1 WHERE id = $1")
        .bind(player)
        .bind(rating)
        .execute(db)
        .await
        .expect("rating set");
}

/// The expected score of `rating` against `opponent` (Elo), computed here independently.
pub fn expected(rating: f64, opponent: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf((opponent - rating) / 400.0))
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// The backend pid of the connection `tx` runs on (to wait for others it blocks).
pub async fn backend_pid(tx: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(tx)
        .await
        .expect("pid")
}

/// Waits until some session waits for a lock `holder` (a backend pid) holds: `what`, the
/// cache-warmer's step that should now be held up, names the wait in a timeout.
pub async fn wait_blocked_by(db: &sqlx::PgPool, holder: i32, what: &str) {
    testkit::wait_until(what, Duration::from_secs(20), || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(holder)
        .fetch_one(db)
        .await
        .ok()?;
        (waiting > 0).then_some(())
    })
    .await
    .expect("in time");
}
