//! Allocation on hand-made pools: least-loaded first, only in the match's region, never
//! above capacity; assignments reach the game server by heartbeat and long poll; ack and
//! result free the slot; a repeated result counts once.

mod common;

use std::time::{Duration, Instant};

use common::Api;
use fred::prelude::HashesInterface;
use serde_json::json;

#[tokio::test]
async fn least_loaded_servers_of_the_region_get_the_matches_up_to_capacity() {
    let ns = testkit::unique_namespace("alloc");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[]).await;
    let api = Api::new(&pool);
    api.register("big", "eu", 4).await;
    api.register("small", "eu", 2).await;
    api.register("far", "us", 8).await;

    // One at a time, so each allocation sees the loads the last one left.
    let mut order = Vec::new();
    for i in 0..6 {
        let id = format!("m{i}");
        common::pend(
            &redis,
            &keys,
            "eu",
            &id,
            &[&format!("a{i}"), &format!("b{i}")],
        )
        .await;
        let server = testkit::wait_until(
            "the match to be allocated",
            Duration::from_secs(5),
            || async { common::server_of(&redis, &keys, "eu", &id).await },
        )
        .await
        .expect("allocated");
        order.push(server);
    }
    // Loads: big 0/4 and small 0/2 tie (big first by name), then small 0 < big .25, then
    // big .25 < small .5, then big .5 = small .5 (big), big .75 > small .5 (small), big.
    assert_eq!(order, ["big", "small", "big", "big", "small", "big"]);
    assert_eq!(common::active(&redis, &keys, "eu", "big").await, 4);
    assert_eq!(common::active(&redis, &keys, "eu", "small").await, 2);
    assert_eq!(
        common::active(&redis, &keys, "us", "far").await,
        0,
        "eu matches stay in eu"
    );

    // The eu pool is full: a seventh match waits.
    common::pend(&redis, &keys, "eu", "m6", &["a6", "b6"]).await;
    let (_, body) = api
        .call("GET", "/v1/servers/far/assignments?wait_ms=300", None)
        .await;
    assert_eq!(
        body,
        json!({"assignments": []}),
        "the long poll ends empty after wait_ms"
    );
    assert_eq!(common::server_of(&redis, &keys, "eu", "m6").await, None);

    // The game server sees its assignments in the heartbeat answer; ack takes one off.
    let (status, body) = api
        .call(
            "POST",
            "/v1/servers/small/heartbeat",
            Some(json!({"active_games": 2})),
        )
        .await;
    assert_eq!(status, 200);
    let mut matches: Vec<String> = body["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| a["match"].as_str().unwrap_or_default().to_owned())
        .collect();
    matches.sort();
    assert_eq!(matches, ["m1", "m4"]);
    assert_eq!(body["assignments"][0]["teams"][0][0]["rating"], 1500.0);
    let (status, _) = api
        .as_server("small")
        .call("POST", "/v1/matches/m1/ack", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .as_server("small")
        .call("POST", "/v1/matches/m1/ack", None)
        .await;
    assert_eq!(status, 204, "a repeated ack is fine");
    let (_, body) = api.call("GET", "/v1/servers/small/assignments", None).await;
    assert_eq!(body["assignments"].as_array().map(Vec::len), Some(1));

    // A result frees the slot: the waiting match goes to the server that has room.
    let result = json!({"placements": [["a1"], ["b1"]], "stats": {"kills": 3}});
    let (status, body) = api
        .as_server("small")
        .call("POST", "/v1/matches/m1/result", Some(result.clone()))
        .await;
    assert_eq!((status, body), (202, json!({"recorded": true})));
    let server = testkit::wait_until("m6 to be allocated", Duration::from_secs(5), || async {
        common::server_of(&redis, &keys, "eu", "m6").await
    })
    .await
    .expect("allocated");
    assert_eq!(server, "small");
    // The same result again: accepted, counted once; another result is refused.
    let (status, body) = api
        .as_server("small")
        .call("POST", "/v1/matches/m1/result", Some(result))
        .await;
    assert_eq!((status, body), (200, json!({"duplicate": true})));
    let (status, body) = api
        .as_server("small")
        .call(
            "POST",
            "/v1/matches/m1/result",
            Some(json!({"placements": [["b1"], ["a1"]]})),
        )
        .await;
    assert_eq!((status, body["error"].clone()), (409, json!("conflict")));
    let results: Option<u64> = redis
        .hget(keys.pool("eu").stats(), "results")
        .await
        .expect("hget");
    assert_eq!(results, Some(1));
    let outbox: Vec<String> =
        fred::prelude::ListInterface::lrange(&redis, keys.pool("eu").results_outbox(), 0, -1)
            .await
            .expect("lrange");
    assert_eq!(outbox.len(), 1, "the result waits in the outbox once");
    assert!(outbox[0].contains("\"kills\":3"));
    pool.stop().await.expect("stops");
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_match_is_assigned() {
    let ns = testkit::unique_namespace("poll");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[]).await;
    let api = Api::new(&pool);
    api.register("gs", "us", 1).await;
    let poll = {
        let api = api.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = api
                .call("GET", "/v1/servers/gs/assignments?wait_ms=10000", None)
                .await;
            (answer, started.elapsed())
        })
    };
    common::pend(&redis, &keys, "us", "late", &["x", "y"]).await;
    let pended = Instant::now();
    let ((status, body), waited) = poll.await.expect("poll");
    assert_eq!(status, 200);
    assert_eq!(body["assignments"][0]["match"], "late");
    assert!(waited < Duration::from_secs(10), "returned before wait_ms");
    eprintln!(
        "long poll answered {:?} after the match was pended",
        pended.elapsed()
    );
    pool.stop().await.expect("stops");
}

/// A batch of allocations wakes each server it gave matches to (once each, however many
/// it got): two servers waiting in a long poll both return early with a match when four
/// matches are pended, and between their polls they are told every match.
#[tokio::test]
async fn one_batch_wakes_every_server_it_gave_matches_to() {
    let ns = testkit::unique_namespace("pollbatch");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[]).await;
    let api = Api::new(&pool);
    api.register("gs-a", "us", 4).await;
    api.register("gs-b", "us", 4).await;
    let poll = |server: &str| {
        let api = api.clone();
        let path = format!("/v1/servers/{server}/assignments?wait_ms=8000");
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = api.call("GET", &path, None).await;
            (answer, started.elapsed())
        })
    };
    let (a, b) = (poll("gs-a"), poll("gs-b"));
    // Both polls are waiting before anything is pended (a poll that found its match
    // already there would prove nothing about the wake-up).
    for server in ["gs-a", "gs-b"] {
        common::eventually_subscribed(&redis, &keys.pool("us").assignments_channel(server)).await;
    }
    common::pend_together(&redis, &keys, "us", &["b1", "b2", "b3", "b4"]).await;
    let mut given = Vec::new();
    for poll in [a, b] {
        let ((status, body), waited) = poll.await.expect("poll");
        assert_eq!(status, 200, "{body}");
        assert!(waited < Duration::from_secs(8), "woken before wait_ms");
        let matches = body["assignments"].as_array().cloned().unwrap_or_default();
        assert!(!matches.is_empty(), "each server was given a match: {body}");
        given.extend(
            matches
                .iter()
                .map(|m| m["match"].as_str().unwrap_or("").to_owned()),
        );
    }
    // Whatever a poll missed (allocated after it returned) is read by the next one.
    for id in ["b1", "b2", "b3", "b4"] {
        testkit::wait_until(
            &format!("{id} to be allocated"),
            Duration::from_secs(5),
            || common::server_of(&redis, &keys, "us", id),
        )
        .await
        .expect("allocated");
    }
    for server in ["gs-a", "gs-b"] {
        let (_, body) = api
            .call("GET", &format!("/v1/servers/{server}/assignments"), None)
            .await;
        for m in body["assignments"].as_array().cloned().unwrap_or_default() {
            let id = m["match"].as_str().unwrap_or("").to_owned();
            if !given.contains(&id) {
                given.push(id);
            }
        }
    }
    given.sort();
    assert_eq!(given, ["b1", "b2", "b3", "b4"]);
    pool.stop().await.expect("stops");
}

#[tokio::test]
async fn a_draining_server_gets_no_new_games_and_leaves_after_its_last() {
    let ns = testkit::unique_namespace("drainsrv");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[]).await;
    let api = Api::new(&pool);
    api.register("old", "eu", 4).await;
    common::pend(&redis, &keys, "eu", "g1", &["p1", "p2"]).await;
    testkit::wait_until("g1 to be allocated", Duration::from_secs(5), || async {
        common::server_of(&redis, &keys, "eu", "g1").await
    })
    .await
    .expect("allocated");
    // The operator drains it through the ops port.
    assert_eq!(drain(&pool, "old").await, "draining");
    // Its heartbeats tell it so.
    let (status, beat) = api
        .call("POST", "/v1/servers/old/heartbeat", Some(json!({})))
        .await;
    assert_eq!(
        (status, beat["draining"].clone()),
        (200, json!(true)),
        "{beat}"
    );
    api.register("new", "eu", 4).await;
    let (status, beat) = api
        .call("POST", "/v1/servers/new/heartbeat", Some(json!({})))
        .await;
    assert_eq!(status, 200);
    assert!(
        beat.get("draining").is_none(),
        "only a draining server is told: {beat}"
    );
    common::pend(&redis, &keys, "eu", "g2", &["p3", "p4"]).await;
    let server = testkit::wait_until("g2 to be allocated", Duration::from_secs(5), || async {
        common::server_of(&redis, &keys, "eu", "g2").await
    })
    .await
    .expect("allocated");
    assert_eq!(server, "new", "nothing new for a draining server");
    let stats = testkit::operator_stats(pool.ops_addr, "test-admin").await;
    let eu = stats["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["region"] == "eu"))
        .expect("eu listed")
        .clone();
    assert_eq!(eu["servers_by_status"], json!({"draining": 1, "ready": 1}));
    assert_eq!(
        (eu["capacity"].clone(), eu["capacity_used"].clone()),
        (json!(8), json!(2))
    );
    let (status, _) = api
        .as_server("old")
        .call(
            "POST",
            "/v1/matches/g1/result",
            Some(json!({"placements": [["p1", "p2"]]})),
        )
        .await;
    assert_eq!(status, 202);
    // It left after its last game, and is told it was drained (410), not forgotten
    // (404, which would make it register again by itself).
    let (status, gone) = api
        .call("POST", "/v1/servers/old/heartbeat", Some(json!({})))
        .await;
    assert_eq!(
        (status, gone["error"].clone()),
        (410, json!("drained")),
        "{gone}"
    );
    let (status, _) = api
        .call("GET", "/v1/servers/old/assignments?wait_ms=0", None)
        .await;
    assert_eq!(status, 410);
    // Registering again is how it rejoins, on purpose.
    api.register("old", "eu", 4).await;
    let (status, beat) = api
        .call("POST", "/v1/servers/old/heartbeat", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{beat}");
    assert!(beat.get("draining").is_none(), "{beat}");
    // A game server leaving by itself with no games goes at once.
    let (status, _) = api.call("DELETE", "/v1/servers/new", None).await;
    assert_eq!(status, 204);
    // A server the pool merely does not know is told to register (404).
    let (status, _) = api
        .raw(
            "POST",
            "/v1/servers/never-seen/heartbeat",
            None,
            Some(&common::forged_token("eu", "never-seen")),
        )
        .await;
    assert_eq!(status, 404);
    pool.stop().await.expect("stops");
}

#[tokio::test]
async fn a_match_its_server_never_acknowledges_is_cancelled_and_the_slot_freed() {
    let ns = testkit::unique_namespace("noack");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[("pool.ack_timeout_ms", "500")]).await;
    let api = Api::new(&pool);
    api.register("forgetful", "eu", 1).await;
    common::pend(&redis, &keys, "eu", "ignored", &["i1", "i2"]).await;
    testkit::wait_until(
        "the match to be allocated",
        Duration::from_secs(5),
        || async { common::server_of(&redis, &keys, "eu", "ignored").await },
    )
    .await
    .expect("allocated");
    assert_eq!(common::active(&redis, &keys, "eu", "forgetful").await, 1);
    // The server is alive (registered, heartbeat TTL not lapsed) but never acks.
    cancelled(&redis, &keys, "ignored").await;
    let reason: Option<String> = redis
        .hget(keys.pool("eu").pool_match("ignored"), "reason")
        .await
        .expect("hget");
    assert_eq!(reason.as_deref(), Some("not_started"));
    assert_eq!(
        common::active(&redis, &keys, "eu", "forgetful").await,
        0,
        "the slot is free again"
    );
    let (_, body) = api
        .call("GET", "/v1/servers/forgetful/assignments", None)
        .await;
    assert_eq!(body, json!({"assignments": []}));
    let (status, _) = api
        .as_server("forgetful")
        .call("POST", "/v1/matches/ignored/ack", None)
        .await;
    assert_eq!(status, 409, "too late to take it");
    // And the freed slot is used again.
    common::pend(&redis, &keys, "eu", "next", &["n1", "n2"]).await;
    let server = testkit::wait_until(
        "the next match to be allocated",
        Duration::from_secs(5),
        || async { common::server_of(&redis, &keys, "eu", "next").await },
    )
    .await
    .expect("allocated");
    assert_eq!(server, "forgetful");
    pool.stop().await.expect("stops");
}

/// Registers `server` (one slot), gives it `match_id` and drains it through the pool's
/// ops port, which answers `draining` (it has a game).
async fn busy_then_draining(
    api: &Api,
    pool: &service_runtime::RunningService,
    redis: &fred::prelude::Client,
    keys: &core_keys::Keys,
    server: &str,
    match_id: &str,
) {
    api.register(server, "eu", 1).await;
    let players = [format!("{match_id}-a"), format!("{match_id}-b")];
    let players: Vec<&str> = players.iter().map(String::as_str).collect();
    common::pend(redis, keys, "eu", match_id, &players).await;
    testkit::wait_until(
        "the match to be allocated",
        Duration::from_secs(5),
        || async { common::server_of(redis, keys, "eu", match_id).await },
    )
    .await
    .expect("allocated");
    assert_eq!(drain(pool, server).await, "draining");
}

/// Drains `server` through the pool's ops port, as an operator does: the state it reports.
async fn drain(pool: &service_runtime::RunningService, server: &str) -> String {
    let drained: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/servers/{server}/drain",
            pool.ops_addr
        ))
        .bearer_auth("test-admin")
        .send()
        .await
        .expect("drain")
        .json()
        .await
        .expect("json");
    drained["state"].as_str().unwrap_or_default().to_owned()
}

/// A heartbeat of `server`: its status and body.
async fn beat(api: &Api, server: &str) -> (u16, serde_json::Value) {
    api.call(
        "POST",
        &format!("/v1/servers/{server}/heartbeat"),
        Some(json!({})),
    )
    .await
}

#[tokio::test]
async fn a_drain_ends_in_410_even_when_its_last_match_is_cancelled_or_the_server_is_reaped() {
    let ns = testkit::unique_namespace("drain410");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(
        &ns,
        &[
            ("pool.ack_timeout_ms", "500"),
            ("pool.heartbeat_interval_ms", "300"),
            ("pool.heartbeat_ttl_ms", "1000"),
            ("pool.reap_interval_ms", "200"),
        ],
    )
    .await;
    let api = Api::new(&pool);
    let drained = (410, json!("drained"));

    // A draining server whose only match is cancelled (never acknowledged) has no game
    // left: its next heartbeat finds it gone, with 410, and so do the ones after.
    busy_then_draining(&api, &pool, &redis, &keys, "busy", "never-acked").await;
    cancelled(&redis, &keys, "never-acked").await;
    for _ in 0..2 {
        let (status, body) = beat(&api, "busy").await;
        assert_eq!((status, body["error"].clone()), drained, "{body}");
    }

    // A draining server that stops heartbeating is reaped; when it comes back it is told
    // it was drained, not invited to register again.
    busy_then_draining(&api, &pool, &redis, &keys, "sleepy", "sleepy-game").await;
    testkit::wait_until(
        "the silent server to be reaped",
        Duration::from_secs(10),
        || async {
            let region: Option<String> = redis.hget(keys.server_regions(), "sleepy").await.ok()?;
            region.is_none().then_some(())
        },
    )
    .await
    .expect("reaped");
    let (status, body) = beat(&api, "sleepy").await;
    assert_eq!((status, body["error"].clone()), drained, "{body}");
    pool.stop().await.expect("stops");
}

/// Waits until `match_id` of region eu is cancelled in the pool.
async fn cancelled(redis: &fred::prelude::Client, keys: &core_keys::Keys, match_id: &str) {
    testkit::wait_until(
        "the match to be cancelled",
        Duration::from_secs(5),
        || async {
            let state: Option<String> = redis
                .hget(keys.pool("eu").pool_match(match_id), "state")
                .await
                .ok()?;
            (state.as_deref() == Some("cancelled")).then_some(())
        },
    )
    .await
    .expect("cancelled");
}
