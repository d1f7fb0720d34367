//! The matchmaker with a real gateway and real WebSocket clients: a ticket that waits too
//! long is removed and its player told `queue.timeout`; two players in the same queue are
//! matched and `queue.status` says so.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;

use std::time::Duration;

use gateway_common::{Client, ws_addr};
use proto::{Encoding, QueueState, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn a_ticket_that_waits_too_long_is_removed_and_its_player_told() {
    let ns = testkit::unique_namespace("timeout");
    let gateway = gateway_common::start(&ns, &[]).await;
    let matchmaker = common::start(&ns, &[("matchmaking.queues.duel.max_wait_ms", "400")]).await;
    let mut alone = Client::player(ws_addr(&gateway), "alone", Encoding::MsgPack).await;
    let reply = alone
        .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::QueueJoined { .. }),
        "{reply:?}"
    );
    match alone.recv().await {
        ServerMessage::QueueTimeout { queue, waited_ms } => {
            assert_eq!(queue.as_str(), "duel");
            assert!(waited_ms >= 400, "waited {waited_ms} ms");
        }
        other => panic!("{other:?}"),
    }
    match alone.request(json!({"type": "queue.status"})).await {
        ServerMessage::QueueStatus { state, .. } => assert_eq!(state, QueueState::Idle),
        other => panic!("{other:?}"),
    }
    // The player may queue again at once.
    let reply = alone
        .request(json!({"type": "queue.join", "queue": "duel", "region": "us"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::QueueJoined { .. }),
        "{reply:?}"
    );
    matchmaker.stop().await.expect("stops");
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn two_players_on_two_gateways_are_matched() {
    let ns = testkit::unique_namespace("duel");
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let matchmaker = common::start(&ns, &[]).await;
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
    let mut matched = Vec::new();
    for client in [&mut alice, &mut bob] {
        let mut status = None;
        for _ in 0..100 {
            match client.request(json!({"type": "queue.status"})).await {
                ServerMessage::QueueStatus {
                    state: QueueState::Matched,
                    match_id,
                    ..
                } => {
                    status = match_id;
                    break;
                }
                ServerMessage::QueueStatus { .. } => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("{other:?}"),
            }
        }
        matched.push(status.expect("matched within 5 s"));
    }
    assert_eq!(matched[0], matched[1], "both in the same match");
    // In a match, a player cannot queue or leave.
    let reply = alice
        .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
        .await;
    assert!(
        matches!(
            reply,
            ServerMessage::Error {
                code: proto::ErrorCode::AlreadyQueued,
                ..
            }
        ),
        "{reply:?}"
    );
    let reply = bob.request(json!({"type": "queue.leave"})).await;
    assert!(
        matches!(
            reply,
            ServerMessage::Error {
                code: proto::ErrorCode::NotQueued,
                ..
            }
        ),
        "{reply:?}"
    );
    matchmaker.stop().await.expect("stops");
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}
