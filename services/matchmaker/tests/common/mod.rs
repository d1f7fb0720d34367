//! Shared set-up of the matchmaker's tests: matchmakers started in-process (or as the real
//! binary) against the shared test cluster, players that are "online" without a gateway,
//! and what the hand-over wrote.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use fred::prelude::{Client, ClientLike, HashesInterface, KeysInterface, SortedSetsInterface};
use matchmaker::Matchmaker;
use queues::MatchRecord;
use service_runtime::{LoadedConfig, RunningService, Service};

/// The environment of a test matchmaker: quick timings, namespace `ns`, `overrides`.
pub fn env_for(ns: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    testkit::service_env(
        ns,
        &[
            ("ops.admin_token", "test-admin"),
            ("matchmaker.tick_ms", "50"),
            ("matchmaker.lease_ms", "1500"),
            ("matchmaker.resync_ms", "2000"),
            ("matchmaker.session_check_ms", "500"),
            ("matchmaker.handover_retry_ms", "1000"),
            ("shutdown.drain_deadline_ms", "5000"),
        ],
        overrides,
    )
}

pub fn config(ns: &str, overrides: &[(&str, &str)]) -> LoadedConfig {
    LoadedConfig::load_with_env(
        Matchmaker::DEFAULTS,
        None,
        Some(env_for(ns, overrides).into_iter().collect()),
    )
    .expect("a valid test config")
}

/// Starts a matchmaker in-process.
pub async fn start(ns: &str, overrides: &[(&str, &str)]) -> RunningService {
    service_runtime::start::<Matchmaker>(config(ns, overrides))
        .await
        .expect("the matchmaker starts")
}

/// Wide windows so every queued player can match at once (for tests about races, not
/// about ratings).
pub const ANY_RATING: [(&str, &str); 4] = [
    ("matchmaking.queues.duel.initial_window", "100000"),
    ("matchmaking.queues.duel.max_window", "100000"),
    ("matchmaking.queues.squad.initial_window", "100000"),
    ("matchmaking.queues.squad.max_window", "100000"),
];

/// The queues' ticket handle on the test cluster, as the gateway has it (new players at
/// 1500).
pub fn tickets(redis: &Client, keys: &core_keys::Keys) -> queues::Tickets {
    queues::Tickets::new(
        keys.clone(),
        redis.clone(),
        queues::JoinPolicy::default_rating(1500.0),
    )
}

/// A command connection to the test cluster.
pub async fn redis() -> Client {
    let config = config(&testkit::unique_namespace("probe"), &[]);
    let client = service_runtime::redis::build_client(&config.common.redis).expect("client");
    client.wait_for_connect().await.expect("connected");
    client
}

/// Marks `player` online for ten minutes: a session opened as a gateway opens it
/// (`gateway::session::Sessions::open`, the same script).
pub async fn online(redis: &Client, keys: &core_keys::Keys, player: &str) {
    let sessions = gateway::session::Sessions::new(
        keys.clone(),
        redis.clone(),
        "test-gateway".to_owned(),
        Duration::from_secs(600),
        Duration::from_secs(60),
    );
    sessions
        .open(player, &format!("conn-{player}"), Default::default())
        .await
        .expect("session opened");
}

/// Sets `player`'s cached rating.
pub async fn rating(redis: &Client, keys: &core_keys::Keys, player: &str, rating: f64) {
    let _: i64 = redis
        .hset(
            keys.player(player).profile(),
            [("rating", rating.to_string())],
        )
        .await
        .expect("hset");
}

/// The live match of `player`, if any.
pub async fn live_match(redis: &Client, keys: &core_keys::Keys, player: &str) -> Option<String> {
    redis
        .get(keys.player(player).current_match())
        .await
        .expect("get")
}

/// Every match handed over to the server pool of `region`, by id.
pub async fn handed_over(
    redis: &Client,
    keys: &core_keys::Keys,
    region: &str,
) -> HashMap<String, MatchRecord> {
    let pool = keys.pool(region);
    let ids: Vec<String> = redis
        .zrange(pool.pending(), 0, -1, None, false, None, false)
        .await
        .expect("zrange");
    let mut out = HashMap::new();
    for id in ids {
        let json: Option<String> = redis
            .hget(pool.pool_match(&id), "record")
            .await
            .expect("hget");
        let record: MatchRecord =
            serde_json::from_str(&json.expect("a record for every pending match")).expect("json");
        out.insert(id, record);
    }
    out
}

/// Waits (polling: matching has no event a test can await) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut check = check;
    testkit::wait_until(what, deadline, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
    .expect(what);
}

/// The real `rallypoint-matchmaker` binary as a child process (for tests that SIGKILL it).
pub async fn start_process(ns: &str, overrides: &[(&str, &str)]) -> testkit::ServiceChild {
    let binary = option_env!("CARGO_BIN_EXE_rallypoint-matchmaker")
        .map(std::path::PathBuf::from)
        .or_else(|| testkit::binary_beside_test("matchmaker"))
        .expect("the matchmaker binary's path");
    testkit::ServiceChild::start(&binary, &env_for(ns, overrides))
        .await
        .expect("the matchmaker binary starts")
}

/// The instance holding `queue`/`region`'s lease (owner tokens are `<instance>/<queue>/<region>`).
pub async fn holder_of(
    redis: &Client,
    keys: &core_keys::Keys,
    queue: &str,
    region: &str,
) -> Option<String> {
    let owner: Option<String> = redis
        .get(keys.queue(queue, region).lease())
        .await
        .expect("get");
    owner.and_then(|o| o.split(['/', '#']).next().map(str::to_owned))
}
