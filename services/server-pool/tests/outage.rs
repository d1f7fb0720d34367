//! An outage of the pool ends no game. Every pool instance is paused (SIGSTOP) for twice
//! the heartbeat TTL, so the game servers cannot reach it and their liveness lapses in
//! Redis; when the pool resumes it first gives them a full TTL to be heard again (they
//! heartbeat on their own schedule, an interval later), and only then judges anyone
//! dead. No game ends, no server is reaped, and every game's result is recorded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fred::prelude::{HashesInterface, SortedSetsInterface};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

const TTL_MS: u64 = 2_000;

#[tokio::test]
async fn a_paused_pool_ends_no_game_when_it_resumes() {
    let ns = testkit::unique_namespace("outage");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let ttl = TTL_MS.to_string();
    let binary = testkit::binary_beside_test("server-pool").expect("the pool binary is built");
    let pool = testkit::ServiceChild::start(
        &binary,
        &common::env_for(
            &ns,
            &[
                ("pool.heartbeat_interval_ms", "1000"),
                ("pool.heartbeat_ttl_ms", ttl.as_str()),
                ("pool.reap_interval_ms", "100"),
            ],
        ),
    )
    .await
    .expect("the pool process starts");
    let api = common::Api::at(&pool.endpoints["http"]);
    api.register("steady", "eu", 4).await;
    let games = ["o1", "o2"];
    for (n, id) in games.iter().enumerate() {
        let players = [format!("a{n}-{ns}"), format!("b{n}-{ns}")];
        common::pend(&redis, &keys, "eu", id, &[&players[0], &players[1]]).await;
        api.take("steady", id).await;
    }

    // The game server heartbeats every second; while the pool is away its beats do not
    // reach it (an ALB with no healthy target answers 503), and after the pool is back
    // the next one comes on its own schedule, an interval later.
    let stop = Arc::new(AtomicBool::new(false));
    let away = Arc::new(AtomicBool::new(false));
    let heartbeats = {
        let (stop, away, base) = (stop.clone(), away.clone(), api.base.clone());
        let token = api.token_of("steady");
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                if !away.load(Ordering::Relaxed) {
                    let _answered = http
                        .post(format!("{base}/v1/servers/steady/heartbeat"))
                        .bearer_auth(&token)
                        .json(&json!({}))
                        .send()
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
        })
    };

    let reap_rounds = r#"rallypoint_pool_reap_rounds_total{region="eu"}"#;
    let rounds = || async {
        let metrics = testkit::metrics_text(&pool.ops).await.unwrap_or_default();
        testkit::metric_value(&metrics, reap_rounds).unwrap_or(0.0)
    };
    let before = testkit::wait_until("the reaper to run", Duration::from_secs(10), || async {
        let n = rounds().await;
        (n > 0.0).then_some(n)
    })
    .await
    .expect("reaping");

    // The pool is away for twice the TTL: the server's liveness lapses meanwhile.
    let pid = Pid::from_raw(pool.pid().expect("a pid") as i32);
    away.store(true, Ordering::Relaxed);
    kill(pid, Signal::SIGSTOP).expect("stopped");
    tokio::time::sleep(Duration::from_millis(2 * TTL_MS)).await;
    let lapses: Option<f64> = redis
        .zscore(keys.pool("eu").liveness(), "steady")
        .await
        .expect("zscore");
    let now = service_runtime::clock::now_ms() as f64;
    assert!(
        lapses.is_some_and(|at| at < now),
        "the server's heartbeat lapsed while the pool was away: {lapses:?} vs {now}"
    );
    kill(pid, Signal::SIGCONT).expect("resumed");
    away.store(false, Ordering::Relaxed);

    // The reaper has had its chance again (it waits a full TTL first)...
    testkit::wait_until(
        "the reaper to run after the pause",
        Duration::from_secs(4 * TTL_MS / 1000 + 10),
        || async { (rounds().await > before + 5.0).then_some(()) },
    )
    .await
    .expect("reaping again");
    // ...and found the server alive: no game ended, no server reaped.
    for id in games {
        let state: Option<String> = redis
            .hget(keys.pool("eu").pool_match(id), "state")
            .await
            .expect("hget");
        assert_eq!(state.as_deref(), Some("started"), "{id} still runs");
    }
    let status: Option<String> = redis
        .hget(keys.pool("eu").server("steady"), "status")
        .await
        .expect("hget");
    assert_eq!(status.as_deref(), Some("ready"));
    let metrics = testkit::metrics_text(&pool.ops).await.unwrap_or_default();
    assert_eq!(
        testkit::metric_value(&metrics, "rallypoint_pool_reaped_total"),
        None,
        "nobody reaped"
    );

    // The games end normally: every result is recorded.
    stop.store(true, Ordering::Relaxed);
    heartbeats.await.expect("the heartbeats stopped");
    for (n, id) in games.iter().enumerate() {
        let (status, body) = api
            .as_server("steady")
            .call(
                "POST",
                &format!("/v1/matches/{id}/result"),
                Some(json!({"placements": [[format!("a{n}-{ns}")], [format!("b{n}-{ns}")]]})),
            )
            .await;
        assert_eq!((status, body), (202, json!({"recorded": true})));
    }
    pool.kill().await;
}
