//! Invariant 4 of docs/ARCHITECTURE.md with the whole platform running as processes: SIGKILL one
//! instance of each service kind while players are queued, matches are being allocated,
//! results are waiting to be committed, and players are connected. Nothing is lost: every
//! queued player gets a match, every match gets its result stored exactly once with the
//! ratings it implies, and the players of the killed gateway are back on the other one
//! and find their state with `queue.status`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rallypoint_client::Event;
use rallypoint_client::proto::{QueueState, ServerMessage};
use rallypoint_tests::stack::{Found, Player, Sizes, Stack, queue_all, take_matches};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_of_each_kind_loses_no_ticket_match_or_result() {
    let ns = testkit::unique_namespace("faults");
    let mut stack = Stack::start(
        &ns,
        Sizes {
            gateways: 2,
            matchmakers: 2,
            pools: 2,
            warmers: 2,
            game_servers: 2,
        },
    )
    .await;
    let urls = stack.gateway_urls();
    let mut players = Vec::new();
    for n in 0..8 {
        // Home gateway first, the other one to move to.
        let home = n % 2;
        let order = vec![urls[home].clone(), urls[1 - home].clone()];
        players.push(Player::connect(&format!("f{n}-{ns}"), order, n % 3 == 0).await);
    }
    let mut matches: HashMap<String, HashSet<String>> = HashMap::new();
    // The matches of each round, in order: each player plays once a round.
    let mut rounds: Vec<Vec<String>> = Vec::new();
    let mut record = |found: &[Found], players: &[Player]| {
        let mut round: Vec<String> = found.iter().map(|f| f.match_id.clone()).collect();
        round.sort();
        round.dedup();
        rounds.push(round);
        for (f, p) in found.iter().zip(players) {
            matches
                .entry(f.match_id.clone())
                .or_default()
                .insert(p.id.clone());
        }
    };

    let keys = core_keys::Keys::new(&ns).expect("namespace");

    // 1. The matchmaker holding duel/eu dies while everyone is queued there: the other
    //    takes the queue over.
    let holder = stack
        .holder(&stack.matchmakers, &keys.queue("duel", "eu").lease())
        .await;
    queue_all(&players, "duel").await;
    stack.matchmakers.remove(holder).kill().await;
    let found = take_matches(&mut players).await;
    record(&found, &players);
    for p in &players {
        p.rating_after(1).await;
    }

    // 2. The pool allocating eu dies while matches wait for allocation: the other
    //    allocates them.
    let holder = stack
        .holder(&stack.pools, &keys.pool("eu").allocator_lease())
        .await;
    queue_all(&players, "duel").await;
    stack.pools.remove(holder).kill().await;
    let found = take_matches(&mut players).await;
    record(&found, &players);

    // 3. The cache-warmer committing eu's results dies while those results come in: the
    //    other commits them.
    let holder = stack
        .holder(&stack.warmers, &keys.pool("eu").results_lease())
        .await;
    stack.warmers.remove(holder).kill().await;
    for p in &players {
        p.rating_after(2).await;
    }

    // 4. A gateway dies with players connected: they reconnect to the other one, and
    //    queue.status tells them they are queued.
    queue_all(&players, "duel").await;
    stack.gateways.remove(0).kill().await;
    let mut early: HashMap<String, Found> = HashMap::new();
    for (n, p) in players.iter_mut().enumerate() {
        if n % 2 != 0 {
            continue;
        }
        loop {
            let event = tokio::time::timeout(Duration::from_secs(20), p.events.recv())
                .await
                .expect("the client notices and reconnects in time")
                .expect("events open");
            match event {
                Event::Reconnected { status, .. } => {
                    match status {
                        Some(ServerMessage::QueueStatus { state, .. }) => assert!(
                            matches!(state, QueueState::Searching | QueueState::Matched),
                            "{}: still queued or already matched, not lost: {state:?}",
                            p.id
                        ),
                        other => panic!("{}: expected the resumed status, got {other:?}", p.id),
                    }
                    break;
                }
                // Matched before the gateway died: keep it (the reconnect re-sends it too).
                Event::Push(ServerMessage::MatchFound {
                    match_id,
                    server,
                    join_token,
                    ..
                }) => {
                    early.insert(
                        p.id.clone(),
                        Found {
                            match_id: match_id.to_string(),
                            server: server.id.to_string(),
                            address: server.address,
                            join_token,
                            ratings: Vec::new(),
                        },
                    );
                }
                Event::Closed { reason } => panic!("{}: closed: {reason}", p.id),
                _ => {}
            }
        }
    }
    let mut found = Vec::new();
    for p in players.iter_mut() {
        let f = match early.remove(&p.id) {
            Some(f) => {
                p.mark_seen(&f.match_id);
                f
            }
            None => p.match_found().await,
        };
        p.join_game(&f).await;
        found.push(f);
    }
    record(&found, &players);
    let mut profile_ratings = HashMap::new();
    for p in &players {
        profile_ratings.insert(p.id.clone(), p.rating_after(3).await);
    }

    // Every match formed was stored once, with exactly its players.
    let db = persistence::connect(&testkit::database_url(), 2, Duration::from_secs(10))
        .await
        .expect("connected");
    assert_eq!(matches.len(), 12, "three rounds of four duels");
    for (match_id, members) in &matches {
        assert_eq!(
            persistence::results::count(&db, match_id)
                .await
                .expect("count"),
            1,
            "{match_id} stored once"
        );
        let stored: HashSet<String> = persistence::results::participants(&db, match_id)
            .await
            .expect("participants")
            .into_iter()
            .map(|p| p.player_id)
            .collect();
        assert_eq!(&stored, members, "{match_id}: its players");
    }
    // ...with the ratings it implies, each round rated from the one before; and the
    // profiles the players read show the last of them.
    let rated = rallypoint_tests::ratings::assert_rated_in_order(&db, &rounds).await;
    for (player, rating) in &profile_ratings {
        let expected = rated.get(player).copied().unwrap_or(f64::NAN);
        assert!(
            (rating - expected).abs() < 1e-6,
            "{player}'s profile says {rating}, the results imply {expected}"
        );
    }
    stack.stop().await;
}
