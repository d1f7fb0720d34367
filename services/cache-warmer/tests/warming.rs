//! Warming, end to end against the real cluster and PostgreSQL: game data rows appear in
//! Redis with their version and follow an update plus invalidation; profiles are warmed on
//! a join's request (new players at the default rating) and by the reconcile scan; without
//! a cache-warmer a join that needs a profile answers `unavailable` in bounded time.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fred::prelude::{HashesInterface, KeysInterface};
use queues::{JoinOutcome, JoinPolicy, ProfilePolicy, TicketError, Tickets};
use serde_json::json;

fn required(wait_ms: u64) -> JoinPolicy {
    JoinPolicy {
        default_rating: 1500.0,
        profiles: ProfilePolicy::Required,
        profile_wait: Duration::from_millis(wait_ms),
        result_wait: Duration::from_millis(1000),
    }
}

#[tokio::test]
async fn game_data_is_warmed_with_its_version_and_follows_an_invalidation() {
    let ns = testkit::unique_namespace("data");
    let kind = format!("items-{ns}");
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    persistence::game_data::put(&db, &kind, "sword", &json!({"damage": 10}))
        .await
        .expect("put");
    let version = persistence::game_data::put(&db, &kind, "bow", &json!({"range": 30}))
        .await
        .expect("put");

    let warmer = common::start(&ns, &[]).await;
    let data = keys.data(&kind);
    testkit::wait_until("the kind to be warmed", Duration::from_secs(20), || async {
        let cached: Option<i64> = redis.get(data.version()).await.ok()?;
        (cached == Some(version)).then_some(())
    })
    .await
    .expect("in time");
    let docs: HashMap<String, String> = redis.hgetall(data.documents()).await.expect("docs");
    assert_eq!(docs.len(), 2);
    let sword: serde_json::Value = serde_json::from_str(&docs["sword"]).expect("json");
    assert_eq!(sword["damage"], 10);

    // An update, then the operator's invalidation: the next read sees it.
    let newer = persistence::game_data::put(&db, &kind, "sword", &json!({"damage": 14}))
        .await
        .expect("put");
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/cache/invalidate", warmer.ops_addr);
    let refused = http
        .post(&url)
        .json(&json!({"dataset": kind}))
        .send()
        .await
        .expect("answers");
    assert_eq!(
        refused.status().as_u16(),
        401,
        "the admin token is required"
    );
    let response = http
        .post(&url)
        .bearer_auth(common::ADMIN)
        .json(&json!({"dataset": kind}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["datasets"][&kind]["outcome"], "written", "{body}");
    assert_eq!(body["datasets"][&kind]["version"], newer, "{body}");
    let sword: String = redis.hget(data.documents(), "sword").await.expect("doc");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&sword).expect("json")["damage"],
        14
    );
    let cached: i64 = redis.get(data.version()).await.expect("version");
    assert_eq!(cached, newer);

    // A bad body is a clear 400.
    let bad = http
        .post(&url)
        .bearer_auth(common::ADMIN)
        .body("{\"dataset\": 5}")
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status().as_u16(), 400);

    // A row deleted by plain SQL leaves the cache at the next refresh.
    sqlx::query("DELETE FROM game_data WHERE kind = $1 AND id = 'bow'")
        .bind(&kind)
        .execute(&db)
        .await
        .expect("deleted");
    testkit::wait_until(
        "the refresh to drop the deleted row",
        Duration::from_secs(20),
        || async {
            let bow: Option<String> = redis.hget(data.documents(), "bow").await.ok()?;
            bow.is_none().then_some(())
        },
    )
    .await
    .expect("in time");
    warmer.stop().await.expect("stops");
}

#[tokio::test]
async fn a_join_gets_its_profile_warmed_on_request_and_new_players_start_at_the_default() {
    let ns = testkit::unique_namespace("warmjoin");
    let (known, new) = (format!("known-{ns}"), format!("new-{ns}"));
    let db = common::db().await;
    common::set_rating(&db, &known, 1720.0).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let tickets = Tickets::new(keys.clone(), redis.clone(), required(5000));

    let warmer = common::start(&ns, &[("warmer.reconcile_interval_ms", "600000")]).await;
    for (player, rating) in [(&known, 1720.0), (&new, 1500.0)] {
        match tickets.join(player, "duel", "eu").await.expect("joined") {
            JoinOutcome::Joined(ticket) => assert_eq!(ticket.rating, rating, "{player}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            common::cached_rating(&redis, &keys, player).await,
            Some(rating)
        );
    }
    let created = persistence::players::get(&db, std::slice::from_ref(&new))
        .await
        .expect("read");
    assert_eq!(created.len(), 1, "the new player exists in PostgreSQL");
    warmer.stop().await.expect("stops");
}

#[tokio::test]
async fn without_a_cache_warmer_a_join_needing_a_profile_is_refused_in_bounded_time() {
    let ns = testkit::unique_namespace("nowarmer");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let tickets = Tickets::new(keys.clone(), redis.clone(), required(300));
    let started = Instant::now();
    let refused = tickets.join("lonely", "duel", "eu").await;
    assert!(
        matches!(refused, Err(TicketError::ProfileUnavailable)),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded: {:?}",
        started.elapsed()
    );
    // Nothing was left behind: no marker, so a later join is not blocked.
    let marker: Option<String> = redis
        .get(keys.player("lonely").ticket())
        .await
        .expect("get");
    assert_eq!(marker, None);
}

#[tokio::test]
async fn the_reconcile_scan_warms_players_online_without_a_profile() {
    let ns = testkit::unique_namespace("reconcile");
    let player = format!("online-{ns}");
    let db = common::db().await;
    common::set_rating(&db, &player, 1333.0).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    // A session as a gateway writes it, with no warm request (as if it was lost).
    let _: i64 = redis
        .hset(
            keys.player(&player).session(),
            [("gateway", "gw-x"), ("conn", "c1")],
        )
        .await
        .expect("session");
    let warmer = common::start(&ns, &[]).await;
    testkit::wait_until(
        "the scan to warm the profile",
        Duration::from_secs(20),
        || async {
            let rating = common::cached_rating(&redis, &keys, &player).await?;
            (rating == 1333.0).then_some(())
        },
    )
    .await
    .expect("in time");
    warmer.stop().await.expect("stops");
}

#[tokio::test]
async fn an_invalidation_event_reloads_a_data_kind() {
    let ns = testkit::unique_namespace("datachan");
    let kind = format!("modes-{ns}");
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    persistence::game_data::put(&db, &kind, "ctf", &json!({"players": 8}))
        .await
        .expect("put");
    // A slow timer: only the event can bring the change in time.
    let warmer = common::start(&ns, &[("warmer.data_refresh_interval_ms", "600000")]).await;
    let data = keys.data(&kind);
    testkit::wait_until("the start-up warm", Duration::from_secs(20), || async {
        let doc: Option<String> = redis.hget(data.documents(), "ctf").await.ok()?;
        doc.map(|_| ())
    })
    .await
    .expect("in time");
    let newer = persistence::game_data::put(&db, &kind, "ctf", &json!({"players": 10}))
        .await
        .expect("put");
    let event = proto::Event::CacheInvalidate {
        dataset: Some(kind.clone()),
        players: Vec::new(),
    };
    let payload = proto::encode_event(&proto::EventEnvelope::new(event, 0)).expect("encoded");
    let publisher = service_runtime::publish::Publisher::new(redis.clone());
    // Published until heard: the warmer's subscription may still be on its way.
    testkit::wait_until(
        "the event to reload the kind",
        Duration::from_secs(20),
        || async {
            publisher
                .publish(&keys.warm_requests_channel(), payload.clone())
                .await
                .ok()?;
            let version: Option<i64> = redis.get(data.version()).await.ok()?;
            (version == Some(newer)).then_some(())
        },
    )
    .await
    .expect("in time");
    let doc: String = redis.hget(data.documents(), "ctf").await.expect("doc");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&doc).expect("json")["players"],
        10
    );
    warmer.stop().await.expect("stops");
}

/// A warm that PostgreSQL holds up longer than the warming lease lives does not let the
/// lease lapse (it was renewed only between warms, and the requests heard while nobody
/// held it were dropped), and what is asked meanwhile is warmed once the database answers.
#[tokio::test]
async fn a_warm_held_up_by_the_database_keeps_the_lease_and_what_is_asked_meanwhile() {
    const LEASE_MS: u64 = 600;
    let ns = testkit::unique_namespace("warmheld");
    let (held, later) = (format!("held-{ns}"), format!("later-{ns}"));
    let db = common::db().await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let tickets = Tickets::new(keys.clone(), redis.clone(), required(20_000));
    let lease = keys.profile_warm_lease();

    let warmer = common::start(
        &ns,
        &[
            ("warmer.lease_ms", &LEASE_MS.to_string()),
            ("warmer.reconcile_interval_ms", "600000"),
        ],
    )
    .await;
    testkit::wait_until(
        "the warmer to hold its lease",
        Duration::from_secs(20),
        || async {
            let owner: Option<String> = redis.get(&lease).await.ok()?;
            owner.map(|_| ())
        },
    )
    .await
    .expect("in time");

    // The held player's row is being inserted by a transaction left open: the warmer's
    // own insert of that id waits for it.
    let mut insert = db.begin().await.expect("a transaction");
    sqlx::query("INSERT INTO players (id, display_name, rating) VALUES ($1, $1, 1650)")
        .bind(&held)
        .execute(&mut *insert)
        .await
        .expect("inserted, not committed");
    let holder = common::backend_pid(&mut insert).await;
    let join_held = tokio::spawn({
        let (tickets, held) = (tickets.clone(), held.clone());
        async move { tickets.join(&held, "duel", "eu").await }
    });
    common::wait_blocked_by(&db, holder, "the warm to wait for the open insert").await;
    let join_later = tokio::spawn({
        let (tickets, later) = (tickets.clone(), later.clone());
        async move { tickets.join(&later, "duel", "eu").await }
    });

    // Three lifetimes of the lease with the warm held up: it is never gone.
    let mut probe = tokio::time::interval(Duration::from_millis(50));
    let until = Instant::now() + Duration::from_millis(3 * LEASE_MS);
    while Instant::now() < until {
        probe.tick().await;
        let owner: Option<String> = redis.get(&lease).await.expect("redis");
        assert!(
            owner.is_some(),
            "the warming lease lapsed while a warm was held up"
        );
    }

    insert.commit().await.expect("committed");
    for (join, player, rating) in [(join_held, &held, 1650.0), (join_later, &later, 1500.0)] {
        match join.await.expect("the join ran").expect("joined") {
            JoinOutcome::Joined(ticket) => assert_eq!(ticket.rating, rating, "{player}"),
            other => panic!("{player}: {other:?}"),
        }
    }
    warmer.stop().await.expect("stops");
}
