//! The whole journey with the real binaries: two gateways, a matchmaker, a server pool, a
//! cache-warmer and simulated game servers, and players (the client SDK) spread over both
//! gateways. Duel and squad: everyone queues, everyone gets the same match on the same
//! server, joins the game server with their join token, the game server plays and posts
//! the result, and the players' new ratings (Elo, computed here) are what their next
//! tickets carry. Then rooms and whispers across the gateways.

use std::time::Duration;

use rallypoint_client::Event;
use rallypoint_client::proto::ServerMessage;
use rallypoint_tests::stack::{Found, Player, Sizes, Stack, queue_all, take_matches};

/// Every player queues and gets the same match and server, and joins the game server.
async fn play(players: &mut [Player], queue: &str) -> Found {
    queue_all(players, queue).await;
    let mut seen = take_matches(players).await;
    for found in &seen {
        assert_eq!(
            (&found.match_id, &found.server),
            (&seen[0].match_id, &seen[0].server),
            "one match, one server for all"
        );
    }
    seen.swap_remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duel_and_squad_from_queue_to_new_ratings_across_two_gateways() {
    let ns = testkit::unique_namespace("journey");
    let stack = Stack::start(&ns, Sizes::SMALL).await;
    let urls = stack.gateway_urls();
    let mut players = Vec::new();
    for n in 0..4 {
        // Spread over both gateways, half in MessagePack.
        let id = format!("j{n}-{ns}");
        players.push(Player::connect(&id, vec![urls[n % 2].clone()], n >= 2).await);
    }

    // A duel between the first two (one per gateway).
    let duel = play(&mut players[..2], "duel").await;
    assert!(
        duel.ratings.iter().all(|(_, r)| *r == 1500.0),
        "new players start at 1500: {:?}",
        duel.ratings
    );
    let mut after = Vec::new();
    for p in &players[..2] {
        after.push(p.rating_after(1).await);
    }
    let mut sorted = after.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, vec![1484.0, 1516.0], "one won, one lost, K = 32");

    // A squad of all four: the duel's ratings are what the tickets carry.
    let squad = play(&mut players, "squad").await;
    for (p, rating) in players[..2].iter().zip(&after) {
        let carried = squad
            .ratings
            .iter()
            .find(|(id, _)| id == &p.id)
            .map(|(_, r)| *r);
        assert_eq!(
            carried,
            Some(*rating),
            "{}'s ticket carries the new rating",
            p.id
        );
    }
    // Everyone's new rating is the Elo the two matches imply, computed by hand.
    let mut profiles = Vec::new();
    for (n, p) in players.iter().enumerate() {
        profiles.push(p.rating_after(if n < 2 { 2 } else { 1 }).await);
    }
    let db = persistence::connect(&testkit::database_url(), 2, Duration::from_secs(10))
        .await
        .expect("connected");
    let rounds = [vec![duel.match_id.clone()], vec![squad.match_id.clone()]];
    let rated = rallypoint_tests::ratings::assert_rated_in_order(&db, &rounds).await;
    for (p, rating) in players.iter().zip(profiles) {
        let expected = rated.get(&p.id).copied().unwrap_or(f64::NAN);
        assert!(
            (rating - expected).abs() < 1e-6,
            "{}'s profile says {rating}, the results imply {expected}",
            p.id
        );
    }

    // Rooms and whispers cross gateways: players 0 and 2 are on the first, 1 and 3 on the
    // second.
    let room = format!("lobby-{ns}");
    for p in &players {
        p.client.join_room(&room).await.expect("joined the room");
    }
    players[0]
        .client
        .send_to_room(&room, serde_json::json!({"gg": true}))
        .await
        .expect("sent");
    let whisper_to = players[3].id.clone();
    players[0]
        .client
        .whisper(&whisper_to, serde_json::json!("well played"))
        .await
        .expect("whispered");
    for (n, p) in players.iter_mut().enumerate() {
        let mut got_room = false;
        let mut got_whisper = n != 3;
        while !(got_room && got_whisper) {
            let event = tokio::time::timeout(Duration::from_secs(10), p.events.recv())
                .await
                .expect("a message in time")
                .expect("events open");
            match event {
                Event::Push(ServerMessage::RoomMessage { body, .. }) => {
                    assert_eq!(body.as_value(), &serde_json::json!({"gg": true}));
                    got_room = true;
                }
                Event::Push(ServerMessage::Whisper { body, .. }) => {
                    assert_eq!(n, 3, "only the addressee gets the whisper");
                    assert_eq!(body.as_value(), &serde_json::json!("well played"));
                    got_whisper = true;
                }
                _ => {}
            }
        }
    }
    stack.stop().await;
}
