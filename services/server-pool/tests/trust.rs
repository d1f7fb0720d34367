//! Game servers' own identities (issue: the pool's trust): each server acts only as itself
//! and only on its own matches; an id belongs to one live incarnation, and a new one ends
//! the games of the one before at once and has its whole capacity; a server that stops
//! listing a game, or runs one past `pool.max_game_ms`, has it ended.

mod common;

use std::time::Duration;

use common::Api;
use fred::prelude::{HashesInterface, KeysInterface, ListInterface};
use serde_json::json;

/// The state, outcome and reason of a match in the pool.
async fn pool_match(
    redis: &fred::prelude::Client,
    keys: &core_keys::Keys,
    match_id: &str,
) -> (Option<String>, Option<String>, Option<String>) {
    redis
        .hmget(
            keys.pool("eu").pool_match(match_id),
            vec!["state", "outcome", "reason"],
        )
        .await
        .expect("hmget")
}

async fn allocated(
    redis: &fred::prelude::Client,
    keys: &core_keys::Keys,
    match_id: &str,
) -> String {
    testkit::wait_until(
        "the match to be allocated",
        Duration::from_secs(10),
        || async { common::server_of(redis, keys, "eu", match_id).await },
    )
    .await
    .expect("allocated")
}

#[tokio::test]
async fn a_server_acts_only_as_itself_and_only_on_its_own_matches() {
    let ns = testkit::unique_namespace("trust");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[]).await;
    let api = Api::new(&pool);
    api.register("gs-a", "eu", 2).await;
    api.register("gs-b", "eu", 2).await;
    let players = [format!("p1-{ns}"), format!("p2-{ns}")];
    common::pend(&redis, &keys, "eu", "m1", &[&players[0], &players[1]]).await;
    let owner = allocated(&redis, &keys, "m1").await;
    let other = if owner == "gs-a" { "gs-b" } else { "gs-a" };
    let (owner_api, other_api) = (api.as_server(&owner), api.as_server(other));
    let result = json!({"placements": [[players[0]], [players[1]]]});

    // Another server can neither take nor end the match: 403, and nothing changes.
    let (status, body) = other_api.call("POST", "/v1/matches/m1/ack", None).await;
    assert_eq!(
        (status, body["error"].clone()),
        (403, json!("not_your_match")),
        "{body}"
    );
    // Nor can a server of another region (its ack looks in its own region first, where
    // the match is not): 403 too, not 404; an id no region has is 404.
    api.register("gs-us", "us", 2).await;
    let us_api = api.as_server("gs-us");
    let (status, body) = us_api.call("POST", "/v1/matches/m1/ack", None).await;
    assert_eq!(
        (status, body["error"].clone()),
        (403, json!("not_your_match")),
        "{body}"
    );
    let (status, body) = us_api.call("POST", "/v1/matches/no-such/ack", None).await;
    assert_eq!(
        (status, body["error"].clone()),
        (404, json!("not_found")),
        "{body}"
    );
    let (status, body) = other_api
        .call("POST", "/v1/matches/m1/result", Some(result.clone()))
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (403, json!("not_your_match")),
        "{body}"
    );
    assert_eq!(
        pool_match(&redis, &keys, "m1").await.0.as_deref(),
        Some("assigned")
    );
    let outbox: i64 = redis
        .llen(keys.pool("eu").results_outbox())
        .await
        .expect("llen");
    assert_eq!(outbox, 0, "no result was recorded");
    for player in &players {
        let pending: i64 = redis
            .exists(keys.player(player).rating_pending())
            .await
            .expect("exists");
        assert_eq!(pending, 0, "{player}'s rating was not marked pending");
    }

    // Nor heartbeat, long-poll, drain or delete as the owner: 403 not_your_server.
    let other_token = api.token_of(other);
    for (method, path) in [
        ("POST", format!("/v1/servers/{owner}/heartbeat")),
        ("GET", format!("/v1/servers/{owner}/assignments")),
        ("DELETE", format!("/v1/servers/{owner}")),
    ] {
        let (status, body) = api.raw(method, &path, None, Some(&other_token)).await;
        assert_eq!(
            (status, body["error"].clone()),
            (403, json!("not_your_server")),
            "{method} {path}: {body}"
        );
    }
    let status: Option<String> = redis
        .hget(keys.pool("eu").server(&owner), "status")
        .await
        .expect("hget");
    assert_eq!(
        status.as_deref(),
        Some("ready"),
        "the owner was not drained"
    );

    // The registration token is no server's identity, and a made-up token with the
    // owner's id is refused: 401 on the server's routes and on its match.
    let forged = common::forged_token("eu", &owner);
    for token in [common::TOKEN, forged.as_str()] {
        let (status, _) = api
            .raw(
                "POST",
                &format!("/v1/servers/{owner}/heartbeat"),
                None,
                Some(token),
            )
            .await;
        assert_eq!(status, 401, "{token}");
        let (status, _) = api
            .raw("POST", "/v1/matches/m1/ack", None, Some(token))
            .await;
        assert_eq!(status, 401, "{token}");
    }
    let (status, _) = api
        .raw(
            "DELETE",
            &format!("/v1/servers/{owner}"),
            None,
            Some(&forged),
        )
        .await;
    assert_eq!(status, 401);

    // The owner itself: ack and result go through.
    let (status, _) = owner_api.call("POST", "/v1/matches/m1/ack", None).await;
    assert_eq!(status, 204);
    let (status, body) = owner_api
        .call("POST", "/v1/matches/m1/result", Some(result))
        .await;
    assert_eq!((status, body), (202, json!({"recorded": true})));
    // The pool keeps only the hash of each token.
    let kept: Option<String> = redis
        .hget(keys.pool("eu").server(&owner), "token_hash")
        .await
        .expect("hget");
    assert_ne!(kept, Some(api.token_of(&owner)));
    assert_eq!(kept.map(|k| k.len()), Some(64));
    pool.stop().await.expect("stops");
}

#[tokio::test]
async fn a_restarted_server_ends_its_old_games_at_once_and_has_its_whole_capacity() {
    let ns = testkit::unique_namespace("restart");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    // The reaper never runs here: the new incarnation alone must clean up.
    let pool = common::start(
        &ns,
        &[
            ("pool.heartbeat_interval_ms", "300"),
            ("pool.heartbeat_ttl_ms", "1000"),
            ("pool.reap_interval_ms", "600000"),
        ],
    )
    .await;
    let api = Api::new(&pool);
    let first = api.register("phoenix", "eu", 2).await;
    let old_token = api.token_of("phoenix");
    let running = [format!("r1-{ns}"), format!("r2-{ns}")];
    let waiting = [format!("w1-{ns}"), format!("w2-{ns}")];
    common::pend(&redis, &keys, "eu", "running", &[&running[0], &running[1]]).await;
    api.take("phoenix", "running").await;
    common::pend(&redis, &keys, "eu", "waiting", &[&waiting[0], &waiting[1]]).await;
    allocated(&redis, &keys, "waiting").await;
    assert_eq!(
        common::active(&redis, &keys, "eu", "phoenix").await,
        2,
        "full"
    );

    // While the first incarnation's heartbeat lasts, the id is in use.
    let (status, body) = api.try_register("phoenix", "eu", 2).await;
    assert_eq!(
        (status, body["error"].clone()),
        (409, json!("id_in_use")),
        "{body}"
    );
    assert_eq!(api.token_of("phoenix"), old_token, "nothing was issued");

    // The process restarted (no heartbeat since): once the heartbeat lapsed, registering
    // takes the id as a new incarnation.
    let registered = testkit::wait_until(
        "the first incarnation's heartbeat to lapse",
        Duration::from_secs(10),
        || async {
            let (status, body) = api.try_register("phoenix", "eu", 2).await;
            (status == 201).then_some(body)
        },
    )
    .await
    .expect("registered again");
    let second = registered["incarnation"].as_u64().expect("an incarnation");
    assert!(second > first, "{second} after {first}");

    // At once (the answer came after it): the running game ended as lost, the waiting
    // match was cancelled and its players requeued, and the capacity is whole.
    assert_eq!(
        pool_match(&redis, &keys, "running").await,
        (Some("ended".into()), Some("server_lost".into()), None)
    );
    assert_eq!(
        pool_match(&redis, &keys, "waiting").await,
        (Some("cancelled".into()), None, Some("server_lost".into()))
    );
    assert_eq!(common::active(&redis, &keys, "eu", "phoenix").await, 0);
    for player in &running {
        let live: Option<String> = redis
            .get(keys.player(player).current_match())
            .await
            .expect("get");
        assert_eq!(live, None, "{player} is free to queue again");
    }
    // The old incarnation's token is dead.
    let (status, _) = api
        .raw(
            "POST",
            "/v1/servers/phoenix/heartbeat",
            None,
            Some(&old_token),
        )
        .await;
    assert_eq!(status, 401);

    // Two new matches both fit on it, and are the new incarnation's alone.
    for (n, id) in ["next-1", "next-2"].iter().enumerate() {
        common::pend(
            &redis,
            &keys,
            "eu",
            id,
            &[&format!("n{n}a-{ns}"), &format!("n{n}b-{ns}")],
        )
        .await;
        assert_eq!(allocated(&redis, &keys, id).await, "phoenix");
    }
    assert_eq!(common::active(&redis, &keys, "eu", "phoenix").await, 2);
    let (status, _) = api
        .raw("POST", "/v1/matches/next-1/ack", None, Some(&old_token))
        .await;
    assert_eq!(
        status, 401,
        "the old incarnation cannot take the new one's match"
    );
    pool.stop().await.expect("stops");
}

/// One heartbeat of `server` listing `games`; its status.
async fn beat(api: &Api, server: &str, games: &[&str]) -> u16 {
    api.call(
        "POST",
        &format!("/v1/servers/{server}/heartbeat"),
        Some(json!({"games": games})),
    )
    .await
    .0
}

#[tokio::test]
async fn a_started_game_its_server_stops_listing_for_two_heartbeats_ends_as_lost() {
    let ns = testkit::unique_namespace("unlisted");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(&ns, &[]).await;
    let api = Api::new(&pool);
    api.register("amnesiac", "eu", 2).await;
    common::pend(
        &redis,
        &keys,
        "eu",
        "g1",
        &[&format!("a-{ns}"), &format!("b-{ns}")],
    )
    .await;
    api.take("amnesiac", "g1").await;
    let state = || async { pool_match(&redis, &keys, "g1").await.0 };

    // Listed, missed once, listed again, missed once: still running.
    for games in [&["g1"][..], &[], &["g1"], &[]] {
        assert_eq!(beat(&api, "amnesiac", games).await, 200);
        assert_eq!(state().await.as_deref(), Some("started"), "{games:?}");
    }
    // A heartbeat that says nothing about its games changes nothing.
    let (status, _) = api
        .call("POST", "/v1/servers/amnesiac/heartbeat", Some(json!({})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(state().await.as_deref(), Some("started"));
    // Missed a second time in a row: the game is over, its slot free.
    assert_eq!(beat(&api, "amnesiac", &[]).await, 200);
    assert_eq!(
        pool_match(&redis, &keys, "g1").await,
        (Some("ended".into()), Some("server_lost".into()), None)
    );
    assert_eq!(common::active(&redis, &keys, "eu", "amnesiac").await, 0);
    pool.stop().await.expect("stops");
}

#[tokio::test]
async fn a_game_past_the_longest_allowed_ends_as_game_timeout_and_its_result_still_counts() {
    let ns = testkit::unique_namespace("maxgame");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(
        &ns,
        &[
            ("pool.heartbeat_interval_ms", "200"),
            ("pool.heartbeat_ttl_ms", "1000"),
            ("pool.max_game_ms", "1500"),
        ],
    )
    .await;
    let api = Api::new(&pool);
    api.register("slowpoke", "eu", 1).await;
    let players = [format!("a-{ns}"), format!("b-{ns}")];
    common::pend(&redis, &keys, "eu", "long", &[&players[0], &players[1]]).await;
    api.take("slowpoke", "long").await;
    // The server keeps heartbeating, listing the game, well past the limit.
    let ended = testkit::wait_until("the game to be ended", Duration::from_secs(10), || async {
        assert_eq!(beat(&api, "slowpoke", &["long"]).await, 200);
        let (state, outcome, _) = pool_match(&redis, &keys, "long").await;
        (state.as_deref() == Some("ended")).then_some(outcome)
    })
    .await
    .expect("ended");
    assert_eq!(ended.as_deref(), Some("game_timeout"));
    let (started, ended_at): (Option<u64>, Option<u64>) = redis
        .hmget(
            keys.pool("eu").pool_match("long"),
            vec!["started_ms", "ended_ms"],
        )
        .await
        .expect("hmget");
    let ran = ended_at
        .unwrap_or(0)
        .saturating_sub(started.unwrap_or(u64::MAX));
    assert!(ran >= 1500, "ended after {ran} ms, not before the limit");
    assert_eq!(common::active(&redis, &keys, "eu", "slowpoke").await, 0);
    // The game was played: a late result is still recorded.
    let (status, body) = api
        .as_server("slowpoke")
        .call(
            "POST",
            "/v1/matches/long/result",
            Some(json!({"placements": [[players[0]], [players[1]]]})),
        )
        .await;
    assert_eq!((status, body), (202, json!({"recorded": true})));
    pool.stop().await.expect("stops");
}
