//! PostgreSQL down: the platform keeps matching players whose profiles are cached, the
//! cache-warmer says why it is degraded (and stays ready), a posted result waits in Redis,
//! and it is committed, once, when the database is back.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;
#[path = "../../matchmaker/tests/common/mod.rs"]
mod matchmaker_common;
#[path = "../../server-pool/tests/common/mod.rs"]
mod pool_common;

use std::time::Duration;

use fred::prelude::{KeysInterface, ListInterface};
use gateway_common::{Client, ws_addr};
use proto::{Encoding, ServerMessage};
use serde_json::json;

async fn readiness(ops: std::net::SocketAddr) -> Option<(u16, serde_json::Value)> {
    let response = reqwest::get(format!("http://{ops}/health/ready"))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_cached_players_still_match_and_results_wait_for_it() {
    let pg = testkit::PrivatePostgres::start()
        .await
        .expect("a private PostgreSQL");
    let db = persistence::connect(&pg.url(), 2, Duration::from_secs(10))
        .await
        .expect("connected");
    persistence::migrate(&db).await.expect("migrated");
    let ns = testkit::unique_namespace("dbdown");
    let (a, b) = (format!("a-{ns}"), format!("b-{ns}"));
    common::set_rating(&db, &a, 1550.0).await;
    common::set_rating(&db, &b, 1450.0).await;
    db.close().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");

    let url = pg.url();
    let warmer = common::start(&ns, &[("database.url", url.as_str())]).await;
    let gateway = gateway_common::start(
        &ns,
        &[
            ("matchmaking.profiles", "required"),
            // Generous for a busy CI machine; the wait ends as soon as the profile is there.
            ("matchmaking.profile_wait_ms", "10000"),
        ],
    )
    .await;
    let matchmaker = matchmaker_common::start(&ns, &matchmaker_common::ANY_RATING).await;
    let pool = pool_common::start(&ns, &[]).await;
    let api = pool_common::Api::new(&pool);
    let server = format!("gs-{ns}");
    api.register(&server, "us", 2).await;

    // Connecting warms the players' profiles (the gateway asks for them).
    let mut ca = Client::player(ws_addr(&gateway), &a, Encoding::Json).await;
    let mut cb = Client::player(ws_addr(&gateway), &b, Encoding::Json).await;
    for player in [&a, &b] {
        testkit::wait_until(
            "the profile to be warmed on connect",
            Duration::from_secs(20),
            || async { common::cached_rating(&redis, &keys, player).await },
        )
        .await
        .expect("in time");
    }

    pg.stop().await.expect("PostgreSQL stops");
    let reason = testkit::wait_until(
        "the warmer to report itself degraded",
        Duration::from_secs(20),
        || async {
            let (status, body) = readiness(warmer.ops_addr).await?;
            (status == 200 && body["status"] == "degraded").then_some(body)
        },
    )
    .await
    .expect("in time");
    assert!(
        reason["degraded"]["database"]
            .as_str()
            .is_some_and(|r| r.contains("PostgreSQL")),
        "{reason}"
    );

    // Matching goes on with the cached ratings.
    for client in [&mut ca, &mut cb] {
        let reply = client
            .request(json!({"type": "queue.join", "queue": "duel", "region": "us"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::QueueJoined { .. }),
            "{reply:?}"
        );
    }
    let mut match_id = String::new();
    for client in [&mut ca, &mut cb] {
        match client.recv().await {
            ServerMessage::MatchFound {
                match_id: id,
                teams,
                ..
            } => {
                let ratings: Vec<f64> = teams.iter().flatten().map(|m| m.rating).collect();
                assert!(
                    ratings.contains(&1550.0) && ratings.contains(&1450.0),
                    "{ratings:?}"
                );
                match_id = id.to_string();
            }
            other => panic!("expected match.found, got {other:?}"),
        }
    }
    api.take(&server, &match_id).await;
    let (status, body) = api
        .as_server(&server)
        .call(
            "POST",
            &format!("/v1/matches/{match_id}/result"),
            Some(json!({"placements": [[b], [a]]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let outbox = keys.pool("us").results_outbox();
    let stats = testkit::operator_stats(warmer.ops_addr, common::ADMIN).await;
    assert_eq!(stats["database"]["status"], "down", "{stats}");
    let waiting: u64 = redis.llen(&outbox).await.expect("llen");
    assert_eq!(
        waiting, 1,
        "the result waits in Redis while the database is down"
    );

    // Back: the result is committed once, the ratings move, the warmer is ready again.
    pg.restart().await.expect("PostgreSQL starts again");
    testkit::wait_until(
        "the waiting result to be committed",
        Duration::from_secs(30),
        || async {
            let left: u64 = redis.llen(&outbox).await.ok()?;
            let pending: u64 = redis.exists(keys.player(&a).rating_pending()).await.ok()?;
            (left == 0 && pending == 0).then_some(())
        },
    )
    .await
    .expect("in time");
    let db = persistence::connect(&pg.url(), 2, Duration::from_secs(10))
        .await
        .expect("connected again");
    assert_eq!(
        persistence::results::count(&db, &match_id)
            .await
            .expect("count"),
        1
    );
    let gain = 32.0 * (1.0 - common::expected(1450.0, 1550.0));
    let cached_b = common::cached_rating(&redis, &keys, &b)
        .await
        .expect("cached");
    assert!(common::close(cached_b, 1450.0 + gain), "{cached_b}");
    testkit::wait_until(
        "the warmer to be ready without a reason",
        Duration::from_secs(20),
        || async {
            let (status, body) = readiness(warmer.ops_addr).await?;
            (status == 200 && body["status"] == "ready").then_some(())
        },
    )
    .await
    .expect("in time");

    warmer.stop().await.expect("stops");
    pool.stop().await.expect("stops");
    matchmaker.stop().await.expect("stops");
    gateway.stop().await.expect("stops");
}
