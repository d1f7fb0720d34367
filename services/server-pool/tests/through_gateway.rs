//! The whole path of a match with real services and WebSocket clients: two players queue
//! on two gateways, the matchmaker matches them, the pool gives the match to a game server,
//! both players get `match.found` (same match, the server's address, a join token the game
//! server can check), the server posts the result, and the players may queue again
//! (once the cache-warmer has their result in PostgreSQL).

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;
#[path = "../../matchmaker/tests/common/mod.rs"]
mod matchmaker_common;
#[path = "../../cache-warmer/tests/common/mod.rs"]
mod warmer_common;

use gateway_common::{Client, ws_addr};
use proto::{Encoding, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn queued_players_get_match_found_and_can_queue_again_after_the_result() {
    let ns = testkit::unique_namespace("e2e");
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let matchmaker = matchmaker_common::start(&ns, &[]).await;
    let pool = common::start(&ns, &[]).await;
    let warmer = warmer_common::start(&ns, &[]).await;
    let api = common::Api::new(&pool);
    api.register("gs-eu-1", "eu", 8).await;

    let mut alice = Client::player(ws_addr(&one), "alice", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&two), "bob", Encoding::MsgPack).await;
    for client in [&mut alice, &mut bob] {
        let reply = client
            .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::QueueJoined { .. }),
            "{reply:?}"
        );
    }
    let mut found = Vec::new();
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMessage::MatchFound {
                match_id,
                queue,
                region,
                teams,
                server,
                join_token,
            } => {
                assert_eq!((queue.as_str(), region.as_str()), ("duel", "eu"));
                assert_eq!(server.id.as_str(), "gs-eu-1");
                assert_eq!(server.address, "gs-eu-1.example:7777");
                assert_eq!(teams.len(), 2);
                let now = service_runtime::clock::now_ms();
                let secret: &[u8] = common::JOIN_SECRET.as_bytes();
                let check = |player: &str, server: &str| {
                    proto::join_token::verify(
                        &[secret],
                        match_id.as_str(),
                        player,
                        server,
                        &join_token,
                        now,
                    )
                };
                assert_eq!(
                    check(&client.player, "gs-eu-1"),
                    Ok(()),
                    "the game server can check the join token with the join secret"
                );
                let other = if client.player == "alice" {
                    "bob"
                } else {
                    "alice"
                };
                assert!(check(other, "gs-eu-1").is_err(), "bound to the player");
                assert!(
                    check(&client.player, "gs-eu-2").is_err(),
                    "bound to the server"
                );
                let expiry = proto::join_token::verify(
                    &[secret],
                    match_id.as_str(),
                    &client.player,
                    "gs-eu-1",
                    &join_token,
                    now + 4 * 3600 * 1000 + 60_000,
                );
                assert_eq!(
                    expiry,
                    Err(proto::join_token::JoinTokenError::Expired),
                    "it expires after the longest game (pool.max_game_ms)"
                );
                found.push(match_id);
            }
            other => panic!("{}: {other:?}", client.player),
        }
    }
    assert_eq!(found[0], found[1], "the same match for both");
    let match_id = found[0].to_string();

    // Alice's connection drops; she reconnects to the other gateway and is told again.
    alice.close().await;
    let mut alice = Client::player(ws_addr(&two), "alice", Encoding::Json).await;
    match alice.recv().await {
        ServerMessage::MatchFound {
            match_id: again,
            join_token,
            ..
        } => {
            assert_eq!(again.as_str(), match_id);
            let secret: &[u8] = common::JOIN_SECRET.as_bytes();
            let now = service_runtime::clock::now_ms();
            assert_eq!(
                proto::join_token::verify(
                    &[secret],
                    &match_id,
                    "alice",
                    "gs-eu-1",
                    &join_token,
                    now
                ),
                Ok(())
            );
        }
        other => panic!("a reconnect in a match is told the match again: {other:?}"),
    }

    // The game server takes it, plays, posts the result.
    let (status, body) = api
        .call("GET", "/v1/servers/gs-eu-1/assignments?wait_ms=2000", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["assignments"][0]["match"], match_id.as_str());
    let server = api.as_server("gs-eu-1");
    let (status, _) = server
        .call("POST", &format!("/v1/matches/{match_id}/ack"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            "POST",
            &format!("/v1/matches/{match_id}/result"),
            Some(json!({"placements": [["alice"], ["bob"]]})),
        )
        .await;
    assert_eq!(status, 202);
    // Both may queue again.
    for client in [&mut alice, &mut bob] {
        let reply = client
            .request(json!({"type": "queue.join", "queue": "squad", "region": "us"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::QueueJoined { .. }),
            "{}: {reply:?}",
            client.player
        );
    }
    warmer.stop().await.expect("stops");
    pool.stop().await.expect("stops");
    matchmaker.stop().await.expect("stops");
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}
