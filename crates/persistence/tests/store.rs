//! Every store query against the private PostgreSQL that `make test` starts. Tests share
//! one database, so each one names its rows with a unique prefix.

use std::time::Duration;

use persistence::results::{self, FinishedMatch, RatingRules, Stored};
use persistence::{game_data, players};
use sqlx::PgPool;

const RULES: RatingRules = RatingRules {
    k: 32.0,
    default_rating: 1500.0,
};

async fn db() -> PgPool {
    let pool = persistence::connect(&testkit::database_url(), 4, Duration::from_secs(10))
        .await
        .expect("connected");
    persistence::migrate(&pool).await.expect("migrated");
    pool
}

fn ids(prefix: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{prefix}-{n}")).collect()
}

fn duel(match_id: &str, winner: &str, loser: &str) -> FinishedMatch {
    FinishedMatch {
        match_id: match_id.to_owned(),
        queue: "duel".into(),
        region: "eu".into(),
        server: "gs-1".into(),
        formed_ms: Some(1_700_000_000_000),
        started_ms: Some(1_700_000_001_000),
        ended_ms: 1_700_000_100_000,
        teams: vec![vec![winner.to_owned()], vec![loser.to_owned()]],
        placements: vec![vec![winner.to_owned()], vec![loser.to_owned()]],
        stats: Some(serde_json::json!({ "kills": { winner: 3 } })),
    }
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_again_as_a_no_op() {
    // A database of its own, so "empty" is true.
    let admin = db().await;
    let name = testkit::unique_namespace("mig").replace(['-', '.'], "_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    let url = format!(
        "{}/{name}",
        testkit::database_url()
            .rsplit_once('/')
            .expect("a url with a database")
            .0
    );
    let fresh = persistence::connect(&url, 2, Duration::from_secs(10))
        .await
        .expect("connected to the new database");
    persistence::migrate(&fresh).await.expect("first run");
    persistence::migrate(&fresh)
        .await
        .expect("second run is a no-op");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .fetch_all(&fresh)
    .await
    .expect("tables");
    assert_eq!(
        tables,
        vec![
            "blocks",
            "game_data",
            "game_data_kinds",
            "match_participants",
            "matches",
            "players"
        ]
    );
    fresh.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("drop database");
}

#[tokio::test]
async fn players_are_created_once_at_the_default_rating() {
    let db = db().await;
    let p = testkit::unique_namespace("pl");
    let who = ids(&p, &["ann", "bob"]);
    let created = players::get_or_create(&db, &who, 1500.0)
        .await
        .expect("created");
    assert_eq!(created.len(), 2);
    assert!(
        created
            .iter()
            .all(|x| x.rating == 1500.0 && x.games_played == 0 && x.version == 1)
    );
    assert_eq!(
        created
            .iter()
            .find(|x| x.id == who[0])
            .map(|x| x.display_name.clone()),
        Some(who[0].clone())
    );

    // Seen again: nothing changes, even with another default.
    let again = players::get_or_create(&db, &who, 1000.0)
        .await
        .expect("read");
    assert!(again.iter().all(|x| x.rating == 1500.0 && x.version == 1));
    assert_eq!(
        players::create_missing(&db, &who, 1000.0)
            .await
            .expect("none new"),
        0
    );

    let renamed = players::rename(&db, &who[1], "Bob the Brave")
        .await
        .expect("renamed");
    let renamed = renamed.expect("bob exists");
    assert_eq!(renamed.display_name, "Bob the Brave");
    assert_eq!(renamed.version, 2, "every change bumps the version");
    assert!(
        players::rename(&db, &format!("{p}-nobody"), "x")
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        players::get(&db, &ids(&p, &["nobody"]))
            .await
            .expect("query")
            .is_empty()
    );
}

#[tokio::test]
async fn a_result_moves_ratings_as_elo_says_and_is_stored_once() {
    let db = db().await;
    let p = testkit::unique_namespace("res");
    let [a, b]: [String; 2] = ids(&p, &["a", "b"]).try_into().expect("two");
    let m = duel(&format!("{p}-m1"), &a, &b);

    let first = results::store(&db, &m, RULES).await.expect("stored");
    let Stored::New(after) = &first else {
        panic!("first delivery must be new: {first:?}");
    };
    let rating =
        |ps: &[players::Profile], id: &str| ps.iter().find(|x| x.id == id).map(|x| x.rating);
    // Two new players at 1500, K = 32: the winner gains 16, the loser drops 16.
    assert_eq!(rating(after, &a), Some(1516.0));
    assert_eq!(rating(after, &b), Some(1484.0));
    assert!(after.iter().all(|x| x.games_played == 1 && x.version == 2));

    // Delivered again: nothing moves.
    let second = results::store(&db, &m, RULES).await.expect("repeat");
    let Stored::Already(now) = &second else {
        panic!("a repeat must be recognised: {second:?}");
    };
    assert_eq!(rating(now, &a), Some(1516.0));
    assert_eq!(results::count(&db, &m.match_id).await.expect("count"), 1);

    let rows = results::participants(&db, &m.match_id)
        .await
        .expect("participants");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].team,
            rows[0].placement,
            rows[0].rating_before,
            rows[0].rating_after
        ),
        (0, 1, 1500.0, 1516.0)
    );
    assert_eq!(
        (
            rows[1].team,
            rows[1].placement,
            rows[1].rating_before,
            rows[1].rating_after
        ),
        (1, 2, 1500.0, 1484.0)
    );

    // A rematch the loser wins starts from the stored ratings: E(1484 vs 1516) by hand.
    let rematch = duel(&format!("{p}-m2"), &b, &a);
    let stored = results::store(&db, &rematch, RULES).await.expect("rematch");
    let expected_b = 1.0 / (1.0 + 10f64.powf((1516.0 - 1484.0) / 400.0));
    let gain = 32.0 * (1.0 - expected_b);
    let close = |x: Option<f64>, y: f64| x.is_some_and(|x| (x - y).abs() < 1e-9);
    assert!(
        close(rating(stored.profiles(), &b), 1484.0 + gain),
        "{stored:?}"
    );
    assert!(
        close(rating(stored.profiles(), &a), 1516.0 - gain),
        "{stored:?}"
    );
}

#[tokio::test]
async fn the_same_result_delivered_concurrently_is_stored_once() {
    let db = db().await;
    let p = testkit::unique_namespace("race");
    let [a, b]: [String; 2] = ids(&p, &["a", "b"]).try_into().expect("two");
    let m = duel(&format!("{p}-m"), &a, &b);
    let deliveries = (0..4).map(|_| results::store(&db, &m, RULES));
    let outcomes = futures::future::join_all(deliveries).await;
    let new = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Stored::New(_))))
        .count();
    assert_eq!(new, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let now = players::get(&db, std::slice::from_ref(&a))
        .await
        .expect("read");
    assert_eq!(now[0].rating, 1516.0);
    assert_eq!(now[0].games_played, 1);
}

#[tokio::test]
async fn team_results_use_mean_ratings_and_keep_team_and_placement() {
    let db = db().await;
    let p = testkit::unique_namespace("team");
    let who = ids(&p, &["a", "b", "c", "d"]);
    // a and c arrive with ratings of their own.
    players::create_missing(&db, &who, 1500.0)
        .await
        .expect("created");
    sqlx::query("UPDATE players SET rating = 1700 WHERE id = $1")
        .bind(&who[0])
        .execute(&db)
        .await
        .expect("a at 1700");
    sqlx::query("UPDATE players SET rating = 1300 WHERE id = $1")
        .bind(&who[1])
        .execute(&db)
        .await
        .expect("b at 1300");
    let m = FinishedMatch {
        match_id: format!("{p}-m"),
        queue: "squad".into(),
        region: "us".into(),
        server: "gs".into(),
        formed_ms: None,
        started_ms: None,
        ended_ms: 1_700_000_000_000,
        teams: vec![who[0..2].to_vec(), who[2..4].to_vec()],
        // Team (a, b) wins: a tops the board, the rest share second place.
        placements: vec![
            vec![who[0].clone()],
            vec![who[1].clone(), who[2].clone(), who[3].clone()],
        ],
        stats: None,
    };
    let stored = results::store(&db, &m, RULES).await.expect("stored");
    let rating = |id: &str| {
        stored
            .profiles()
            .iter()
            .find(|x| x.id == id)
            .map(|x| x.rating)
    };
    // Mean 1500 against mean 1500: an even game, the winners +16 each, the losers -16.
    assert_eq!(rating(&who[0]), Some(1716.0));
    assert_eq!(rating(&who[1]), Some(1316.0));
    assert_eq!(rating(&who[2]), Some(1484.0));
    assert_eq!(rating(&who[3]), Some(1484.0));
    let rows = results::participants(&db, &m.match_id).await.expect("rows");
    let placement_of = |id: &str| {
        rows.iter()
            .find(|r| r.player_id == id)
            .map(|r| (r.team, r.placement))
    };
    assert_eq!(
        placement_of(&who[1]),
        Some((0, 1)),
        "a team places where its best member does"
    );
    assert_eq!(placement_of(&who[3]), Some((1, 2)));
}

#[tokio::test]
async fn game_data_versions_move_on_every_change_however_it_is_made() {
    let db = db().await;
    let kind = testkit::unique_namespace("items");
    let v1 = game_data::put(&db, &kind, "sword", &serde_json::json!({ "damage": 10 }))
        .await
        .expect("put");
    let v2 = game_data::put(&db, &kind, "shield", &serde_json::json!({ "armour": 5 }))
        .await
        .expect("put");
    assert!(v2 > v1);
    let snap = game_data::snapshot(&db, &kind).await.expect("snapshot");
    assert_eq!(snap.version, v2);
    assert_eq!(snap.documents.len(), 2);
    assert_eq!(snap.documents[1].0, "sword");
    let doc: serde_json::Value = serde_json::from_str(&snap.documents[1].1).expect("json");
    assert_eq!(doc["damage"], 10);

    // An operator's plain SQL moves the version too.
    sqlx::query(
        "UPDATE game_data SET document = '{\"damage\": 12}' WHERE kind = $1 AND id = 'sword'",
    )
    .bind(&kind)
    .execute(&db)
    .await
    .expect("update");
    let after_sql = game_data::snapshot(&db, &kind).await.expect("snapshot");
    assert!(after_sql.version > v2);
    assert!(
        game_data::versions(&db)
            .await
            .expect("versions")
            .contains(&(kind.clone(), after_sql.version))
    );

    // So does a delete, and the kind stays known (empty) so its warm copy can be emptied;
    // and a TRUNCATE, which fires no row triggers.
    assert!(
        game_data::delete(&db, &kind, "sword")
            .await
            .expect("delete")
    );
    assert!(
        game_data::delete(&db, &kind, "shield")
            .await
            .expect("delete")
    );
    assert!(
        !game_data::delete(&db, &kind, "shield")
            .await
            .expect("delete again")
    );
    let empty = game_data::snapshot(&db, &kind).await.expect("snapshot");
    assert!(empty.version > after_sql.version);
    assert!(empty.documents.is_empty());
    let other = format!("{kind}-other");
    game_data::put(&db, &other, "x", &serde_json::json!(1))
        .await
        .expect("put");
    let before = game_data::snapshot(&db, &other)
        .await
        .expect("snapshot")
        .version;
    // Only in a throw-away transaction: other tests share the table.
    let mut tx = db.begin().await.expect("tx");
    sqlx::query("TRUNCATE game_data")
        .execute(&mut *tx)
        .await
        .expect("truncate");
    let after: i64 = sqlx::query_scalar("SELECT version FROM game_data_kinds WHERE kind = $1")
        .bind(&other)
        .fetch_one(&mut *tx)
        .await
        .expect("version");
    assert!(after > before, "TRUNCATE moves every kind's version");
    tx.rollback().await.expect("rollback");
}

#[tokio::test]
async fn a_batch_rates_each_result_in_order_as_one_by_one_would() {
    let db = db().await;
    let p = testkit::unique_namespace("batch");
    let [a, b, c, d]: [String; 4] = ids(&p, &["a", "b", "c", "d"]).try_into().expect("four");
    // a plays twice in the batch; the repeat of m1 and the stored-before m0 change nothing.
    let m0 = duel(&format!("{p}-m0"), &c, &d);
    results::store(&db, &m0, RULES)
        .await
        .expect("m0 stored before");
    let m1 = duel(&format!("{p}-m1"), &a, &b);
    let m2 = duel(&format!("{p}-m2"), &a, &c);
    let batch = [&m1, &m0, &m2, &m1];
    let stored = results::store_all(&db, &batch, RULES)
        .await
        .expect("batch stored");
    let kinds: Vec<bool> = stored.iter().map(|s| matches!(s, Stored::New(_))).collect();
    assert_eq!(kinds, vec![true, false, true, false]);
    for m in [&m0, &m1, &m2] {
        assert_eq!(results::count(&db, &m.match_id).await.expect("count"), 1);
    }

    // The same results one by one, on players of their own, move ratings the same way.
    let q = format!("{p}-single");
    let [sa, sb, sc, sd]: [String; 4] = ids(&q, &["a", "b", "c", "d"]).try_into().expect("four");
    for m in [
        duel(&format!("{q}-m0"), &sc, &sd),
        duel(&format!("{q}-m1"), &sa, &sb),
        duel(&format!("{q}-m2"), &sa, &sc),
    ] {
        results::store(&db, &m, RULES).await.expect("stored");
    }
    let profiles = |who: Vec<String>| {
        let db = db.clone();
        async move {
            let mut found = players::get(&db, &who).await.expect("profiles");
            found.sort_by(|x, y| x.id.cmp(&y.id));
            found
                .into_iter()
                .map(|x| (x.rating, x.games_played, x.version))
                .collect::<Vec<_>>()
        }
    };
    let batched = profiles(vec![a.clone(), b.clone(), c.clone(), d.clone()]).await;
    assert_eq!(batched, profiles(vec![sa, sb, sc, sd]).await);
    // a: won m1, then m2 against c (who had won m0), each game once.
    assert_eq!(batched[0].1, 2);
    assert!(batched[0].0 > 1516.0, "{batched:?}");

    // The participants of m2 saw a's rating after m1.
    let after_m1 = results::participants(&db, &m1.match_id)
        .await
        .expect("m1 participants")
        .into_iter()
        .find(|x| x.player_id == a)
        .expect("a in m1")
        .rating_after;
    let before_m2 = results::participants(&db, &m2.match_id)
        .await
        .expect("m2 participants")
        .into_iter()
        .find(|x| x.player_id == a)
        .expect("a in m2")
        .rating_before;
    assert_eq!(after_m1, before_m2);

    // Each result's profiles are its participants', as the batch left them.
    let of_m2: Vec<&str> = stored[2].profiles().iter().map(|x| x.id.as_str()).collect();
    assert_eq!(of_m2, vec![a.as_str(), c.as_str()]);
}

#[tokio::test]
async fn block_changes_apply_in_order_and_again_as_a_no_op() {
    let db = persistence::connect(
        &testkit::database_url(),
        2,
        std::time::Duration::from_secs(5),
    )
    .await
    .expect("the database");
    persistence::migrate(&db).await.expect("migrated");
    let me = format!("b-{}", testkit::unique_namespace("blocks"));
    let changes = [
        (me.as_str(), "x", true),
        (me.as_str(), "y", true),
        (me.as_str(), "x", false),
        (me.as_str(), "z", true),
        (me.as_str(), "z", true),
    ];
    for _ in 0..2 {
        persistence::blocks::apply(&db, &changes)
            .await
            .expect("applied");
        let listed = persistence::blocks::of(&db, std::slice::from_ref(&me))
            .await
            .expect("read");
        assert_eq!(
            listed,
            vec![(me.clone(), "y".to_owned()), (me.clone(), "z".to_owned())],
            "a later unblock wins, a repeated block counts once, and a batch applied again changes nothing"
        );
    }
}
