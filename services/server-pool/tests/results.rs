//! Results are never silently dropped: a game whose server was found dead while it ran is
//! ended as `server_lost`, but it was played, so the first result its game server posts
//! afterwards is recorded and rated; the same result again is a duplicate, another one is
//! refused.

mod common;
#[path = "../../cache-warmer/tests/common/mod.rs"]
mod warmer_common;

use std::time::Duration;

use fred::prelude::HashesInterface;
use serde_json::json;

#[tokio::test]
async fn a_result_for_a_game_ended_as_server_lost_is_recorded_and_rated() {
    let ns = testkit::unique_namespace("lostres");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let pool = common::start(
        &ns,
        &[
            ("pool.heartbeat_interval_ms", "300"),
            ("pool.heartbeat_ttl_ms", "1000"),
            ("pool.reap_interval_ms", "200"),
        ],
    )
    .await;
    let warmer = warmer_common::start(&ns, &[]).await;
    let api = common::Api::new(&pool);
    let fragile = api.as_server("fragile");
    let (winner, loser) = (format!("win-{ns}"), format!("lose-{ns}"));
    // Ids of this run's own: PostgreSQL keeps the matches of earlier runs.
    let match_id = format!("lost-{ns}");
    let id = match_id.as_str();
    common::pend(&redis, &keys, "eu", id, &[&winner, &loser]).await;
    api.register("fragile", "eu", 2).await;

    // The server takes the game (heartbeating until it is assigned), starts it...
    let assigned = testkit::wait_until("the assignment", Duration::from_secs(10), || async {
        let (status, body) = api
            .call("POST", "/v1/servers/fragile/heartbeat", Some(json!({})))
            .await;
        (status == 200 && body["assignments"][0]["match"] == id).then_some(())
    })
    .await;
    assert!(assigned.is_ok(), "{assigned:?}");
    let (status, _) = fragile
        .call("POST", &format!("/v1/matches/{id}/ack"), None)
        .await;
    assert_eq!(status, 204);

    // ...then stops heartbeating (a network partition, say) and is found dead: the game
    // is ended as lost.
    let pool_match = keys.pool("eu").pool_match(id);
    let lost = testkit::wait_until("the game ended as lost", Duration::from_secs(10), || {
        let (redis, pool_match) = (redis.clone(), pool_match.clone());
        async move {
            let outcome: Option<String> = redis.hget(&pool_match, "outcome").await.ok()?;
            (outcome.as_deref() == Some("server_lost")).then_some(())
        }
    })
    .await;
    assert!(lost.is_ok(), "{lost:?}");

    // The game was played all the same: its result is recorded...
    let result = json!({"placements": [[winner], [loser]]});
    let (status, body) = fragile
        .call(
            "POST",
            &format!("/v1/matches/{id}/result"),
            Some(result.clone()),
        )
        .await;
    assert_eq!((status, body), (202, json!({"recorded": true})));
    // ...and rated: Elo with K = 32 between two new players at 1500 moves each by 16.
    let db = persistence::connect(&testkit::database_url(), 2, Duration::from_secs(10))
        .await
        .expect("connected");
    let stored = testkit::wait_until("the result in PostgreSQL", Duration::from_secs(20), || {
        let db = db.clone();
        async move {
            let rows = persistence::results::participants(&db, id).await.ok()?;
            (!rows.is_empty()).then_some(rows)
        }
    })
    .await
    .expect("stored");
    let after: Vec<(String, f64)> = stored
        .iter()
        .map(|p| (p.player_id.clone(), p.rating_after))
        .collect();
    assert!(
        after.contains(&(winner.clone(), 1516.0)) && after.contains(&(loser.clone(), 1484.0)),
        "{after:?}"
    );

    // The same result again is a duplicate; another one is refused and changes nothing.
    let (status, body) = fragile
        .call("POST", &format!("/v1/matches/{id}/result"), Some(result))
        .await;
    assert_eq!((status, body), (200, json!({"duplicate": true})));
    let (status, body) = fragile
        .call(
            "POST",
            &format!("/v1/matches/{id}/result"),
            Some(json!({"placements": [[loser], [winner]]})),
        )
        .await;
    assert_eq!((status, body["error"].clone()), (409, json!("conflict")));
    let counted: Option<u64> = redis
        .hget(keys.pool("eu").stats(), "results_after_loss")
        .await
        .expect("hget");
    assert_eq!(counted, Some(1));
    assert_eq!(
        persistence::results::count(&db, id).await.expect("count"),
        1
    );

    warmer.stop().await.expect("stops");
    pool.stop().await.expect("stops");
}

/// Results posted together are recorded as one group (`pool.result_group_max` of them
/// close it) and each is answered for itself: two recorded, one refused as another
/// server's, in the same group.
#[tokio::test]
async fn results_posted_together_are_answered_each_for_itself() {
    let ns = testkit::unique_namespace("resgroup");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    // A window far longer than the test waits: only the third result closes the group.
    let pool = common::start(
        &ns,
        &[
            ("pool.result_group_ms", "1000"),
            ("pool.result_group_max", "3"),
        ],
    )
    .await;
    let api = common::Api::new(&pool);
    api.register("grp", "eu", 2).await;
    let (first, second) = (format!("g1-{ns}"), format!("g2-{ns}"));
    for id in [&first, &second] {
        let (a, b) = (format!("{id}-a"), format!("{id}-b"));
        common::pend(&redis, &keys, "eu", id, &[&a, &b]).await;
        api.take("grp", id).await;
    }
    // Registered once both games are on `grp` (else the less loaded server gets one).
    api.register("stranger", "eu", 2).await;
    let result = |id: &str| json!({"placements": [[format!("{id}-a")], [format!("{id}-b")]]});
    let (own, stranger) = (api.as_server("grp"), api.as_server("stranger"));
    let post = |caller: &common::Api, id: &str| {
        let (caller, path, body) = (
            caller.clone(),
            format!("/v1/matches/{id}/result"),
            result(id),
        );
        async move { caller.call("POST", &path, Some(body)).await }
    };
    let (one, two, refused) = tokio::join!(
        post(&own, &first),
        post(&own, &second),
        post(&stranger, &first)
    );
    assert_eq!(one, (202, json!({"recorded": true})));
    assert_eq!(two, (202, json!({"recorded": true})));
    assert_eq!(refused.0, 403, "{refused:?}");
    assert_eq!(refused.1["error"], "not_your_match", "{refused:?}");
    assert_eq!(common::active(&redis, &keys, "eu", "grp").await, 0);
}
