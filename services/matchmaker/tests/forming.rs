//! Matches formed end to end in Redis: tickets in, balanced teams out, handed over to the
//! server pool, players marked as in a match.

mod common;

use std::time::Duration;

use fred::prelude::HashesInterface;
use matchmaker::handover::Attempt;
use queues::{JoinOutcome, TicketStatus};

#[tokio::test]
async fn squad_tickets_become_two_balanced_matches_handed_to_the_pool() {
    let ns = testkit::unique_namespace("form");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    // Two groups of four, far apart in rating: each group is one match.
    let ratings = [
        ("a1", 1900.0),
        ("a2", 1600.0),
        ("a3", 1400.0),
        ("a4", 1100.0),
        ("b1", 3000.0),
        ("b2", 3010.0),
        ("b3", 3020.0),
        ("b4", 3030.0),
    ];
    for (player, rating) in ratings {
        common::online(&redis, &keys, player).await;
        common::rating(&redis, &keys, player, rating).await;
    }
    // Group a spans 800 points: it matches once the window has widened that far (at
    // 1000 points per second, within a second).
    let matchmaker = common::start(
        &ns,
        &[("matchmaking.queues.squad.widen_per_second", "1000")],
    )
    .await;
    for (player, _) in ratings {
        assert!(matches!(
            tickets.join(player, "squad", "eu").await.expect("join"),
            JoinOutcome::Joined(_)
        ));
    }
    let started = std::time::Instant::now();
    common::eventually(
        "every player to be matched",
        Duration::from_secs(10),
        || async {
            for (player, _) in ratings {
                if common::live_match(&redis, &keys, player).await.is_none() {
                    return false;
                }
            }
            true
        },
    )
    .await;

    eprintln!("matched within {:?}", started.elapsed());
    let records = common::handed_over(&redis, &keys, "eu").await;
    assert_eq!(records.len(), 2);
    for record in records.values() {
        assert_eq!(
            (record.queue.as_str(), record.region.as_str()),
            ("squad", "eu")
        );
        assert_eq!(record.teams.len(), 2);
        assert!(record.teams.iter().all(|t| t.len() == 2));
        let sums: Vec<f64> = record
            .teams
            .iter()
            .map(|t| t.iter().map(|p| p.rating).sum())
            .collect();
        let group = &record.teams[0][0].player[..1];
        assert!(
            record.players().all(|p| p.player.starts_with(group)),
            "nearest ratings play together: {record:?}"
        );
        // a: 1900+1100 vs 1600+1400 (0 apart); b: 3030+3000 vs 3020+3010 (0 apart).
        assert_eq!(sums[0], sums[1], "{record:?}");
        for player in record.players() {
            assert_eq!(
                common::live_match(&redis, &keys, &player.player)
                    .await
                    .as_deref(),
                Some(record.match_id.as_str())
            );
            match tickets.status(&player.player).await.expect("status") {
                TicketStatus::Matched { match_id, .. } => assert_eq!(match_id, record.match_id),
                other => panic!("{other:?}"),
            }
        }
    }
    // A matched player cannot queue again until the match ends.
    assert!(matches!(
        tickets.join("a1", "duel", "eu").await.expect("join"),
        JoinOutcome::InMatch { .. }
    ));

    // The operator's view.
    let stats = testkit::operator_stats(matchmaker.ops_addr, "test-admin").await;
    let squad_eu = stats["queues"]
        .as_array()
        .and_then(|q| {
            q.iter()
                .find(|u| u["queue"] == "squad" && u["region"] == "eu")
        })
        .expect("squad/eu listed")
        .clone();
    assert_eq!(squad_eu["matches"], 2);
    assert_eq!(squad_eu["tickets_matched"], 8);
    assert_eq!(squad_eu["queued"], 0);
    assert_eq!(stats["recent"]["matches_formed_here"], 2);
    let refused = reqwest::get(format!("http://{}/v1/stats", matchmaker.ops_addr))
        .await
        .expect("stats");
    assert_eq!(refused.status(), 401, "stats need the admin token");
    matchmaker.stop().await.expect("stops");
}

#[tokio::test]
async fn tickets_of_players_gone_past_the_grace_are_removed_not_matched() {
    let ns = testkit::unique_namespace("gone");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    let matchmaker = common::start(&ns, &[("matchmaking.ticket_grace_ms", "600")]).await;
    // Nobody is online: both tickets are abandoned.
    for player in ["ghost1", "ghost2"] {
        assert!(matches!(
            tickets.join(player, "duel", "us").await.expect("join"),
            JoinOutcome::Joined(_)
        ));
    }
    common::eventually(
        "the abandoned tickets to be removed",
        Duration::from_secs(10),
        || async {
            tickets.status("ghost1").await.expect("status") == TicketStatus::Idle
                && tickets.status("ghost2").await.expect("status") == TicketStatus::Idle
        },
    )
    .await;
    assert!(common::handed_over(&redis, &keys, "us").await.is_empty());
    assert_eq!(common::live_match(&redis, &keys, "ghost1").await, None);
    matchmaker.stop().await.expect("stops");
}

#[tokio::test]
async fn a_player_briefly_away_keeps_the_ticket_and_is_matched_only_when_back() {
    let ns = testkit::unique_namespace("away");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    let matchmaker = common::start(&ns, &[("matchmaking.ticket_grace_ms", "30000")]).await;
    common::online(&redis, &keys, "here").await;
    // "away" queues, then loses its session (its socket dropped).
    common::online(&redis, &keys, "away").await;
    assert!(matches!(
        tickets.join("away", "duel", "eu").await.expect("join"),
        JoinOutcome::Joined(_)
    ));
    let _: i64 = fred::prelude::KeysInterface::del(&redis, keys.player("away").session())
        .await
        .expect("del");
    // The matchmaker's session check sees it gone (its gauge says so)...
    let ops = matchmaker.ops_addr;
    let disconnected = r#"rallypoint_matchmaker_disconnected_tickets{queue="duel",region="eu"}"#;
    common::eventually(
        "the matchmaker to see the player gone",
        Duration::from_secs(10),
        || async move {
            let metrics = testkit::metrics_text(ops).await.unwrap_or_default();
            testkit::metric_value(&metrics, disconnected) == Some(1.0)
        },
    )
    .await;
    // ...so a partner arriving now is not matched with nobody there.
    assert!(matches!(
        tickets.join("here", "duel", "eu").await.expect("join"),
        JoinOutcome::Joined(_)
    ));
    let waited_before = match tickets.status("away").await.expect("status") {
        TicketStatus::Searching { waited_ms, .. } => waited_ms,
        other => panic!("the ticket outlives the dropped socket: {other:?}"),
    };
    // ...and ten ticks in which a match would have formed if it could.
    let ticks = r#"rallypoint_matchmaker_tick_seconds_count{queue="duel",region="eu"}"#;
    let tick_count = || async move {
        let metrics = testkit::metrics_text(ops).await.unwrap_or_default();
        testkit::metric_value(&metrics, ticks).unwrap_or(0.0)
    };
    let joined_at = tick_count().await;
    common::eventually(
        "ten more ticks of the queue",
        Duration::from_secs(10),
        || async move { tick_count().await >= joined_at + 10.0 },
    )
    .await;
    assert!(matches!(
        tickets.status("here").await.expect("status"),
        TicketStatus::Searching { .. }
    ));
    // Back within the grace (a reconnect to any gateway writes the session): matched,
    // having kept its place and its wait.
    common::online(&redis, &keys, "away").await;
    common::eventually(
        "the returning player to be matched",
        Duration::from_secs(10),
        || async { common::live_match(&redis, &keys, "away").await.is_some() },
    )
    .await;
    let record = common::handed_over(&redis, &keys, "eu")
        .await
        .into_values()
        .next()
        .expect("one match");
    let away = record
        .players()
        .find(|p| p.player == "away")
        .expect("in the match");
    assert!(
        record.formed_ms - away.enqueued_ms >= waited_before,
        "the wait counts from the first join"
    );
    matchmaker.stop().await.expect("stops");
}

#[tokio::test]
async fn a_redone_hand_over_never_hands_a_match_to_the_pool_twice() {
    let ns = testkit::unique_namespace("redo");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    let matchmaker = common::start(&ns, &[]).await;
    for player in ["x1", "x2"] {
        common::online(&redis, &keys, player).await;
        assert!(matches!(
            tickets.join(player, "duel", "eu").await.expect("join"),
            JoinOutcome::Joined(_)
        ));
    }
    common::eventually(
        "the match to be handed over",
        Duration::from_secs(10),
        || async { !common::handed_over(&redis, &keys, "eu").await.is_empty() },
    )
    .await;
    let record = common::handed_over(&redis, &keys, "eu")
        .await
        .into_values()
        .next()
        .expect("the match");
    // The pool moved on (say it cancelled the match and took it off its pending set)...
    let pool = keys.pool("eu");
    let _: i64 = redis
        .hset(pool.pool_match(&record.match_id), [("state", "cancelled")])
        .await
        .expect("hset");
    let _: i64 = fred::prelude::SortedSetsInterface::zrem(&redis, pool.pending(), &record.match_id)
        .await
        .expect("zrem");
    // ...when a new holder redoes the hand-over of the same claim.
    let handover = matchmaker::handover::Handover {
        matches: matches::Matches::new(
            keys.clone(),
            redis.clone(),
            service_runtime::publish::Publisher::new(redis.clone()),
        ),
        match_ttl: Duration::from_secs(60),
    };
    let holder = queues::QueueHolder::new(keys.clone(), redis.clone(), "duel", "eu", "someone");
    handover
        .run(&holder, &record, None, Attempt::Redone)
        .await
        .expect("redone");
    assert!(
        common::handed_over(&redis, &keys, "eu").await.is_empty(),
        "the match is not pending again"
    );
    let state: Option<String> = redis
        .hget(pool.pool_match(&record.match_id), "state")
        .await
        .expect("hget");
    assert_eq!(state.as_deref(), Some("cancelled"));
    matchmaker.stop().await.expect("stops");
}

/// The matches one tick hands over wake the region's allocator once (one `match_formed`
/// on `{pool:<region>}:events`; woken, it takes every pending match), not once each:
/// three duels formed together give one hint, and the next hint is the next tick's match.
#[tokio::test]
async fn the_matches_of_one_tick_wake_the_pool_once() {
    use service_runtime::publish::Publisher;
    use service_runtime::subscriptions::{SubscriptionConfig, Subscriptions};

    let ns = testkit::unique_namespace("hint");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    let stop = tokio_util::sync::CancellationToken::new();
    let subscriptions = Subscriptions::start(
        &redis,
        Publisher::new(redis.clone()),
        keys.clone(),
        &format!("hint-test-{ns}"),
        SubscriptionConfig::from_redis(&common::config(&ns, &[]).common.redis),
        stop.clone(),
    );
    let mut hints = subscriptions
        .subscribe(&keys.pool("eu").events_channel())
        .await
        .expect("subscribed");
    // Six players queued before any matchmaker runs: its first tick forms three duels.
    let first: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
    for (i, player) in first.iter().enumerate() {
        common::online(&redis, &keys, player).await;
        common::rating(&redis, &keys, player, 1500.0 + i as f64).await;
        assert!(matches!(
            tickets.join(player, "duel", "eu").await.expect("join"),
            JoinOutcome::Joined(_)
        ));
    }
    let matchmaker = common::start(&ns, &[]).await;
    let hinted = next_hint(&mut hints).await;
    let batch = common::handed_over(&redis, &keys, "eu").await;
    assert_eq!(batch.len(), 3, "the three duels are pending: {batch:?}");
    assert!(batch.contains_key(&hinted), "the hint names one of them");

    // Two more players: a fourth match, in a later tick. The next hint is for it; a hint
    // per match would have been one of the first three.
    for player in ["b0", "b1"] {
        common::online(&redis, &keys, player).await;
        common::rating(&redis, &keys, player, 1500.0).await;
        assert!(matches!(
            tickets.join(player, "duel", "eu").await.expect("join"),
            JoinOutcome::Joined(_)
        ));
    }
    let hinted = next_hint(&mut hints).await;
    let fourth = common::live_match(&redis, &keys, "b0")
        .await
        .expect("b0 is in a match");
    assert_eq!(hinted, fourth, "the next hint is the fourth match's");
    assert_eq!(common::handed_over(&redis, &keys, "eu").await.len(), 4);
    matchmaker.stop().await.expect("stops");
    stop.cancel();
}

/// The match the next `match_formed` hint names.
async fn next_hint(hints: &mut service_runtime::subscriptions::Subscription) -> String {
    let payload = tokio::time::timeout(Duration::from_secs(10), hints.recv())
        .await
        .expect("a hint within 10 s")
        .expect("the subscription is open");
    match proto::decode_event(&payload, proto::MAX_EVENT_BYTES)
        .expect("an event")
        .event
    {
        proto::Event::MatchFormed { match_id, .. } => match_id.to_string(),
        other => panic!("not a match_formed hint: {other:?}"),
    }
}
