//! Results from the game server to PostgreSQL, with real services: players queue on a
//! gateway that requires cached profiles (warmed from PostgreSQL), are matched and placed,
//! the game server posts the result, and the cache-warmer commits it: once, even when the
//! instance committing it is SIGKILLed mid-transaction, with Elo ratings checked against
//! values computed here, and the players' next tickets at their new ratings.

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

/// Both players join `duel` in `eu`; returns each one's `match.found` (match id, the
/// ratings of the teams as the matchmaker saw them).
async fn play(clients: [&mut Client; 2]) -> Vec<(String, Vec<(String, f64)>)> {
    let mut found = Vec::new();
    let [a, b] = clients;
    for client in [&mut *a, &mut *b] {
        let reply = client
            .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::QueueJoined { .. }),
            "{}: {reply:?}",
            client.player
        );
    }
    for client in [a, b] {
        match client.recv().await {
            ServerMessage::MatchFound {
                match_id, teams, ..
            } => {
                let ratings = teams
                    .iter()
                    .flatten()
                    .map(|m| (m.player.to_string(), m.rating))
                    .collect();
                found.push((match_id.to_string(), ratings));
            }
            other => panic!("{}: expected match.found, got {other:?}", client.player),
        }
    }
    found
}

fn rating_of(found: &[(String, Vec<(String, f64)>)], player: &str) -> f64 {
    found[0]
        .1
        .iter()
        .find(|(p, _)| p == player)
        .map(|(_, r)| *r)
        .expect("the player is in the match")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_survives_a_killed_warmer_lands_once_and_moves_ratings_as_elo_says() {
    let ns = testkit::unique_namespace("results");
    let winner = format!("win-{ns}");
    let loser = format!("lose-{ns}");
    let db = common::db().await;
    common::set_rating(&db, &winner, 1600.0).await;
    common::set_rating(&db, &loser, 1400.0).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");

    // The first cache-warmer is a real process, to be SIGKILLed.
    let first = common::start_process(&ns, &[]).await;
    let gateway = gateway_common::start(
        &ns,
        &[
            ("matchmaking.profiles", "required"),
            // Generous for a busy CI machine; the wait ends as soon as the profile is there.
            ("matchmaking.profile_wait_ms", "10000"),
            ("matchmaking.result_wait_ms", "300"),
        ],
    )
    .await;
    let matchmaker = matchmaker_common::start(&ns, &matchmaker_common::ANY_RATING).await;
    let pool = pool_common::start(&ns, &[]).await;
    let api = pool_common::Api::new(&pool);
    let server = format!("gs-{ns}");
    api.register(&server, "eu", 4).await;

    let mut w = Client::player(ws_addr(&gateway), &winner, Encoding::Json).await;
    let mut l = Client::player(ws_addr(&gateway), &loser, Encoding::MsgPack).await;
    let found = play([&mut w, &mut l]).await;
    // The tickets carried the ratings PostgreSQL holds, warmed into the cache on demand.
    assert_eq!(rating_of(&found, &winner), 1600.0);
    assert_eq!(rating_of(&found, &loser), 1400.0);
    let match_id = found[0].0.clone();
    api.take(&server, &match_id).await;

    // Hold the players' rows so the warmer's commit blocks inside its transaction.
    let mut lock = db.begin().await.expect("a transaction");
    sqlx::query("SELECT id FROM players WHERE id = ANY($1) FOR UPDATE")
        .bind([winner.clone(), loser.clone()].as_slice())
        .execute(&mut *lock)
        .await
        .expect("rows locked");
    let holder = common::backend_pid(&mut lock).await;
    let (status, body) = api
        .as_server(&server)
        .call(
            "POST",
            &format!("/v1/matches/{match_id}/result"),
            Some(json!({"placements": [[winner], [loser]], "stats": {"rounds": 3}})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    common::wait_blocked_by(
        &db,
        holder,
        "the warmer's commit to block on the locked rows",
    )
    .await;

    // A join while the result is not in the rating waits, then refuses: never the old rating.
    let reply = w
        .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
        .await;
    match reply {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, proto::ErrorCode::Unavailable);
            assert!(message.contains("still being recorded"), "{message}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }

    first.kill().await;
    lock.rollback().await.expect("rows released");
    let outbox = keys.pool("eu").results_outbox();
    let waiting: u64 = redis.llen(&outbox).await.expect("llen");
    assert_eq!(
        waiting, 1,
        "the killed warmer's result is still in the outbox"
    );
    assert_eq!(
        persistence::results::count(&db, &match_id)
            .await
            .expect("count"),
        0
    );

    // Another instance takes the region over and commits it.
    let second = common::start(&ns, &[]).await;
    testkit::wait_until(
        "the result to be committed",
        Duration::from_secs(20),
        || async {
            let left: u64 = redis.llen(&outbox).await.ok()?;
            let pending: u64 = redis
                .exists(keys.player(&winner).rating_pending())
                .await
                .ok()?;
            (left == 0 && pending == 0).then_some(())
        },
    )
    .await
    .expect("in time");
    assert_eq!(
        persistence::results::count(&db, &match_id)
            .await
            .expect("count"),
        1
    );
    let gain = 32.0 * (1.0 - common::expected(1600.0, 1400.0));
    let rows = persistence::results::participants(&db, &match_id)
        .await
        .expect("rows");
    let row = |p: &str| {
        rows.iter()
            .find(|r| r.player_id == p)
            .expect("participant")
            .clone()
    };
    assert!(
        common::close(row(&winner).rating_after, 1600.0 + gain),
        "{rows:?}"
    );
    assert!(
        common::close(row(&loser).rating_after, 1400.0 - gain),
        "{rows:?}"
    );
    assert_eq!((row(&winner).placement, row(&loser).placement), (1, 2));
    for (player, rating) in [(&winner, 1600.0 + gain), (&loser, 1400.0 - gain)] {
        let cached = common::cached_rating(&redis, &keys, player)
            .await
            .expect("cached");
        assert!(
            common::close(cached, rating),
            "{player}: cache {cached} vs {rating}"
        );
    }

    // Their next tickets carry the new ratings.
    let again = play([&mut w, &mut l]).await;
    assert!(
        common::close(rating_of(&again, &winner), 1600.0 + gain),
        "{again:?}"
    );
    assert!(
        common::close(rating_of(&again, &loser), 1400.0 - gain),
        "{again:?}"
    );

    second.stop().await.expect("stops");
    pool.stop().await.expect("stops");
    matchmaker.stop().await.expect("stops");
    gateway.stop().await.expect("stops");
}

/// Waits until the cache-warmer has taken everything off `outbox`.
/// A 1-v-1 result as the server pool puts it on a region's outbox (`first` won).
fn outbox_entry(match_id: &str, region: &str, ended_ms: u64, first: &str, second: &str) -> String {
    serde_json::to_string(&matches::ResultEntry {
        match_id: match_id.to_owned(),
        region: region.to_owned(),
        server: "gs".into(),
        started_ms: None,
        ended_ms,
        placements: vec![vec![first.to_owned()], vec![second.to_owned()]],
        stats: None,
        record: None,
    })
    .expect("json")
}

async fn drained(redis: &fred::prelude::Client, outbox: &str) {
    testkit::wait_until("the outbox to drain", Duration::from_secs(20), || async {
        let left: u64 = redis.llen(outbox).await.ok()?;
        (left == 0).then_some(())
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn a_result_delivered_twice_moves_ratings_once_and_unreadable_entries_are_kept_aside() {
    let ns = testkit::unique_namespace("redeliver");
    let (a, b) = (format!("a-{ns}"), format!("b-{ns}"));
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let entry = outbox_entry(&format!("m-{ns}"), "us", 1_700_000_000_000, &a, &b);
    let outbox = keys.pool("us").results_outbox();
    // The same result twice (a replay), with something unreadable between them.
    let _: u64 = redis
        .rpush(&outbox, vec![entry.clone(), "{not json".to_owned(), entry])
        .await
        .expect("rpush");

    let warmer = common::start(&ns, &[]).await;
    drained(&redis, &outbox).await;
    assert_eq!(
        persistence::results::count(&db, &format!("m-{ns}"))
            .await
            .expect("count"),
        1
    );
    // Two new players at 1500, K = 32: +16 and -16, once.
    let profiles = persistence::players::get(&db, &[a.clone(), b.clone()])
        .await
        .expect("players");
    let rating = |p: &str| {
        profiles
            .iter()
            .find(|x| x.id == p)
            .map(|x| (x.rating, x.games_played))
    };
    assert_eq!(rating(&a), Some((1516.0, 1)));
    assert_eq!(rating(&b), Some((1484.0, 1)));
    let dead: Vec<String> = redis
        .lrange(keys.pool("us").results_dead(), 0, -1)
        .await
        .expect("dead");
    assert_eq!(dead, vec!["{not json".to_owned()]);

    // The operator's view shows it.
    let stats = testkit::operator_stats(warmer.ops_addr, common::ADMIN).await;
    assert_eq!(stats["results"]["us"]["dead_letters"], 1, "{stats}");
    assert_eq!(stats["results"]["us"]["outbox"], 0, "{stats}");
    warmer.stop().await.expect("stops");
}

#[tokio::test]
async fn a_result_postgresql_refuses_is_set_aside_and_frees_its_players_without_blocking_others() {
    let ns = testkit::unique_namespace("refused");
    let (a, b, c, d) = (
        format!("a-{ns}"),
        format!("b-{ns}"),
        format!("c-{ns}"),
        format!("d-{ns}"),
    );
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let entry = |match_id: &str, ended_ms: u64, first: &str, second: &str| {
        outbox_entry(match_id, "eu", ended_ms, first, second)
    };
    // An end time PostgreSQL cannot represent (year 31 million): a data error, forever.
    let refused = entry(&format!("bad-{ns}"), 1_000_000_000_000_000_000, &a, &b);
    let fine = entry(&format!("good-{ns}"), 1_700_000_000_000, &c, &d);
    for player in [&a, &b] {
        let _: () = redis
            .set(
                keys.player(player).rating_pending(),
                format!("bad-{ns}"),
                None,
                None,
                false,
            )
            .await
            .expect("marked");
    }
    let outbox = keys.pool("eu").results_outbox();
    let _: u64 = redis
        .rpush(&outbox, vec![refused.clone(), fine])
        .await
        .expect("rpush");

    let warmer = common::start(&ns, &[]).await;
    drained(&redis, &outbox).await;
    let dead: Vec<String> = redis
        .lrange(keys.pool("eu").results_dead(), 0, -1)
        .await
        .expect("dead");
    assert_eq!(dead, vec![refused]);
    for player in [&a, &b] {
        let pending: u64 = redis
            .exists(keys.player(player).rating_pending())
            .await
            .expect("exists");
        assert_eq!(pending, 0, "{player} may queue again");
    }
    assert_eq!(
        persistence::results::count(&db, &format!("good-{ns}"))
            .await
            .expect("count"),
        1,
        "the result behind it was committed"
    );
    let ready: serde_json::Value = reqwest::get(format!("http://{}/health/ready", warmer.ops_addr))
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ready["status"], "ready",
        "a data error is not a database outage: {ready}"
    );
    warmer.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_commit_every_result_exactly_once() {
    let ns = testkit::unique_namespace("pair");
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let one = common::start(&ns, &[]).await;
    let two = common::start(&ns, &[]).await;
    // 40 duels among 8 players, in both regions, delivered while both instances run.
    let players: Vec<String> = (0..8).map(|i| format!("p{i}-{ns}")).collect();
    let mut games = std::collections::HashMap::<String, i32>::new();
    for n in 0..40_usize {
        let (a, b) = (&players[n % 8], &players[(n * 3 + 1) % 8]);
        if a == b {
            continue;
        }
        *games.entry(a.clone()).or_default() += 1;
        *games.entry(b.clone()).or_default() += 1;
        let region = if n % 2 == 0 { "eu" } else { "us" };
        let entry = outbox_entry(
            &format!("m{n}-{ns}"),
            region,
            1_700_000_000_000 + n as u64,
            a,
            b,
        );
        let _: u64 = redis
            .rpush(keys.pool(region).results_outbox(), entry)
            .await
            .expect("rpush");
    }
    for region in ["eu", "us"] {
        drained(&redis, &keys.pool(region).results_outbox()).await;
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM matches WHERE id LIKE $1")
        .bind(format!("%-{ns}"))
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(stored as usize, games.values().sum::<i32>() as usize / 2);
    let profiles = persistence::players::get(&db, &players)
        .await
        .expect("players");
    for profile in &profiles {
        assert_eq!(
            Some(&profile.games_played),
            games.get(&profile.id),
            "{}: every result applied once",
            profile.id
        );
    }
    // Ratings only move between these players: their sum is unchanged.
    let total: f64 = profiles.iter().map(|p| p.rating).sum();
    assert!(
        (total - 1500.0 * profiles.len() as f64).abs() < 1e-6,
        "{total}"
    );
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

#[tokio::test]
async fn an_operator_lists_and_replays_dead_letters_and_the_results_are_stored() {
    let ns = testkit::unique_namespace("replay");
    let (a, b) = (format!("a-{ns}"), format!("b-{ns}"));
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    // A result set aside earlier (say PostgreSQL refused it until an operator fixed the
    // cause): valid now.
    let match_id = format!("replayed-{ns}");
    let entry = outbox_entry(&match_id, "eu", 1_700_000_000_000, &a, &b);
    let dead = keys.pool("eu").results_dead();
    let _: u64 = redis
        .rpush(&dead, vec![entry, "{not json".to_owned()])
        .await
        .expect("rpush");
    let warmer = common::start(&ns, &[]).await;
    let ops = format!("http://{}", warmer.ops_addr);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{ops}{path}"))
            .bearer_auth(common::ADMIN)
    };

    let listed =
        testkit::operator_get(warmer.ops_addr, "/v1/results/dead?region=eu", common::ADMIN).await;
    assert_eq!(listed["total"], 2, "{listed}");
    assert_eq!(listed["entries"][0]["match"], match_id.as_str(), "{listed}");
    assert!(
        listed["entries"][1]["match"].is_null(),
        "unreadable: {listed}"
    );

    // Bad calls say what is wrong and move nothing.
    let missing = call(reqwest::Method::POST, "/v1/results/dead/replay")
        .send()
        .await
        .expect("POST");
    assert_eq!(missing.status(), 400);
    let unknown = call(reqwest::Method::POST, "/v1/results/dead/replay?region=mars")
        .send()
        .await
        .expect("POST");
    assert_eq!(unknown.status(), 404);
    let still: u64 = redis.llen(&dead).await.expect("llen");
    assert_eq!(still, 2);

    let replayed: serde_json::Value =
        call(reqwest::Method::POST, "/v1/results/dead/replay?region=eu")
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("JSON");
    assert_eq!(replayed["replayed"], 2, "{replayed}");
    // The valid one is stored; the unreadable one is set aside again.
    drained(&redis, &keys.pool("eu").results_outbox()).await;
    assert_eq!(
        persistence::results::count(&db, &match_id)
            .await
            .expect("count"),
        1
    );
    let left: Vec<String> = redis.lrange(&dead, 0, -1).await.expect("dead");
    assert_eq!(left, vec!["{not json".to_owned()]);
    // The level the alarm reads follows: one left.
    let gauge = testkit::wait_until(
        "the dead-letters gauge",
        Duration::from_secs(10),
        || async {
            let metrics = testkit::metrics_text(warmer.ops_addr).await?;
            let series = r#"rallypoint_results_dead_letters{region="eu"}"#;
            (testkit::metric_value(&metrics, series) == Some(1.0)).then_some(())
        },
    )
    .await;
    assert!(gauge.is_ok(), "{gauge:?}");
    warmer.stop().await.expect("stops");
}
