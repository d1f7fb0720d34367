//! When a match cannot go on: no server with room in time, or its server stops
//! heartbeating. Players are told (`match.cancelled`), keep their place in the queue when
//! the game had not started, and are freed when it had.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;
#[path = "../../matchmaker/tests/common/mod.rs"]
mod matchmaker_common;

use std::time::{Duration, Instant};

use gateway_common::{Client, ws_addr};
use proto::{Encoding, QueueState, ServerMessage};
use serde_json::json;

async fn queue_two(gateway: &service_runtime::RunningService) -> (Client, Client) {
    let mut a = Client::player(ws_addr(gateway), "ann", Encoding::Json).await;
    let mut b = Client::player(ws_addr(gateway), "ben", Encoding::MsgPack).await;
    for client in [&mut a, &mut b] {
        let reply = client
            .request(json!({"type": "queue.join", "queue": "duel", "region": "us"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::QueueJoined { .. }),
            "{reply:?}"
        );
    }
    (a, b)
}

fn cancelled(message: ServerMessage) -> (String, bool) {
    match message {
        ServerMessage::MatchCancelled {
            reason, requeued, ..
        } => (reason, requeued),
        other => panic!("expected match.cancelled, got {other:?}"),
    }
}

#[tokio::test]
async fn no_server_in_time_cancels_and_requeues_with_the_original_wait() {
    let ns = testkit::unique_namespace("noserver");
    let gateway = gateway_common::start(&ns, &[]).await;
    let matchmaker = matchmaker_common::start(&ns, &[]).await;
    let pool = common::start(&ns, &[("pool.allocate_timeout_ms", "600")]).await;
    let joined = Instant::now();
    let (mut ann, mut ben) = queue_two(&gateway).await;
    for client in [&mut ann, &mut ben] {
        assert_eq!(
            cancelled(client.recv().await),
            ("no_server".to_owned(), true)
        );
        match client.request(json!({"type": "queue.status"})).await {
            // Back in the queue: searching, or already matched again if the
            // matchmaker's next tick came first (the new match is cancelled in turn).
            ServerMessage::QueueStatus {
                state: QueueState::Matched,
                ..
            } => {}
            ServerMessage::QueueStatus {
                state, waited_ms, ..
            } => {
                assert_eq!(state, QueueState::Searching, "back in the queue");
                let waited = waited_ms.unwrap_or(0);
                assert!(
                    waited as u128 >= 600,
                    "the wait counts from the original join ({waited} ms)"
                );
                assert!(u128::from(waited) <= joined.elapsed().as_millis() + 50);
            }
            other => panic!("{other:?}"),
        }
    }
    // With a server in the region, the requeued players are matched and placed.
    common::Api::new(&pool).register("late-gs", "us", 2).await;
    for client in [&mut ann, &mut ben] {
        // They may be matched again (and cancelled again) before the server registered.
        loop {
            match client.recv().await {
                ServerMessage::MatchFound { server, .. } => {
                    assert_eq!(server.id.as_str(), "late-gs");
                    break;
                }
                ServerMessage::MatchCancelled { requeued: true, .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    pool.stop().await.expect("stops");
    matchmaker.stop().await.expect("stops");
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn a_server_that_stops_heartbeating_is_reaped_and_its_players_told() {
    let ns = testkit::unique_namespace("reap");
    let gateway = gateway_common::start(&ns, &[]).await;
    let matchmaker = matchmaker_common::start(&ns, &[]).await;
    let ttl = [
        ("pool.heartbeat_interval_ms", "300"),
        ("pool.heartbeat_ttl_ms", "1000"),
        ("pool.reap_interval_ms", "200"),
    ];
    let pool = common::start(&ns, &ttl).await;
    let api = common::Api::new(&pool);

    // 1. Allocated, never acknowledged: the players are requeued.
    api.register("flaky", "us", 4).await;
    let (mut ann, mut ben) = queue_two(&gateway).await;
    for client in [&mut ann, &mut ben] {
        assert!(matches!(
            client.recv().await,
            ServerMessage::MatchFound { .. }
        ));
    }
    let silent = Instant::now();
    for client in [&mut ann, &mut ben] {
        assert_eq!(
            cancelled(client.recv().await),
            ("server_lost".to_owned(), true)
        );
    }
    let told = silent.elapsed();
    eprintln!(
        "players told {told:?} after the server's last heartbeat (TTL 1000 ms, reaper every 200 ms)"
    );
    assert!(told < Duration::from_millis(1000 + 200 + 1000), "{told:?}");
    let (status, _) = api
        .call("POST", "/v1/servers/flaky/heartbeat", Some(json!({})))
        .await;
    assert_eq!(status, 404, "a reaped server must register again");

    // 2. A running game: ended as lost, players freed (not requeued).
    api.register("steady", "us", 4).await;
    let mut match_id = String::new();
    for client in [&mut ann, &mut ben] {
        match client.recv().await {
            ServerMessage::MatchFound {
                match_id: id,
                server,
                ..
            } => {
                assert_eq!(server.id.as_str(), "steady");
                match_id = id.to_string();
            }
            other => panic!("{other:?}"),
        }
    }
    let (status, _) = api
        .as_server("steady")
        .call("POST", &format!("/v1/matches/{match_id}/ack"), None)
        .await;
    assert_eq!(status, 204);
    for client in [&mut ann, &mut ben] {
        assert_eq!(
            cancelled(client.recv().await),
            ("server_lost".to_owned(), false)
        );
        match client.request(json!({"type": "queue.status"})).await {
            ServerMessage::QueueStatus { state, .. } => assert_eq!(state, QueueState::Idle),
            other => panic!("{other:?}"),
        }
    }
    let reply = ann
        .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::QueueJoined { .. }),
        "free to queue again: {reply:?}"
    );
    pool.stop().await.expect("stops");
    matchmaker.stop().await.expect("stops");
    gateway.stop().await.expect("stops");
}
