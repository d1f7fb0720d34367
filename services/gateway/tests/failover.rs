//! Invariant 5 for the gateway: a Redis master failover under connected clients. The
//! gateways resubscribe their players' inboxes and room channels without a restart, and
//! the clients stay connected throughout.

mod common;

use std::time::{Duration, Instant};

use common::{Client, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;
use testkit::PrivateCluster;

const RECOVERY: Duration = Duration::from_secs(20);

/// Whispers `to` from `from` until one is accepted; returns how long that took.
async fn whisper_until_delivered(from: &mut Client, to: &mut Client, since: Instant) -> Duration {
    loop {
        match from
            .request(json!({"type": "whisper", "to": to.player, "body": "ping"}))
            .await
        {
            ServerMessage::WhisperSent { .. } => break,
            ServerMessage::Error {
                code: ErrorCode::Unavailable | ErrorCode::NotOnline,
                ..
            } => {
                assert!(
                    since.elapsed() < RECOVERY,
                    "whispers never got through again"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(to.recv().await, ServerMessage::Whisper { .. }));
    since.elapsed()
}

#[tokio::test]
async fn clients_stay_connected_and_keep_receiving_through_a_master_failover() {
    let cluster = PrivateCluster::start(3, 1)
        .await
        .expect("a private cluster");
    let seeds = cluster
        .seed_urls()
        .into_iter()
        .take(3)
        .collect::<Vec<_>>()
        .join(",");
    let ns = testkit::unique_namespace("gwfail");
    let overrides = [
        ("redis.urls", seeds.as_str()),
        ("redis.topology_check_interval_ms", "500"),
        ("redis.canary_interval_ms", "250"),
        ("redis.canary_timeout_ms", "1500"),
        ("redis.reconnect_max_ms", "500"),
        ("gateway.session_ttl_ms", "10000"),
    ];
    let one = common::start(&ns, &overrides).await;
    let two = common::start(&ns, &overrides).await;
    let mut alice = Client::guest(ws_addr(&one), "alice", Encoding::Json).await;
    let mut bob = Client::guest(ws_addr(&two), "bob", Encoding::MsgPack).await;
    for client in [&mut alice, &mut bob] {
        let reply = client
            .request(json!({"type": "room.join", "room": "den"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::RoomJoined { .. }),
            "{reply:?}"
        );
    }
    whisper_until_delivered(&mut bob, &mut alice, Instant::now()).await;

    // Fail over the master that holds alice's inbox.
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let slot = core_keys::slot_of(&keys.player("alice").inbox_channel());
    let started = Instant::now();
    let (master, replica) = cluster
        .fail_over_slot(slot, RECOVERY)
        .await
        .expect("failed over");

    let took = whisper_until_delivered(&mut bob, &mut alice, started).await;
    eprintln!("whispers to alice were back {took:?} after CLUSTER FAILOVER {master} -> {replica}");

    // The room still delivers across both gateways (its channel may have moved with the
    // failover too: resend until both hear it), and nobody was disconnected.
    let mut heard = [false, false];
    for n in 0.. {
        assert!(
            started.elapsed() < RECOVERY,
            "the room never delivered again"
        );
        let reply = alice
            .request(json!({"type": "room.send", "room": "den", "body": n}))
            .await;
        assert!(matches!(reply, ServerMessage::RoomSent { .. }), "{reply:?}");
        for (i, client) in [&mut alice, &mut bob].into_iter().enumerate() {
            while let Some(message) = client.recv_within(Duration::from_millis(300)).await {
                heard[i] |= matches!(message, ServerMessage::RoomMessage { .. });
            }
        }
        if heard == [true, true] {
            break;
        }
    }
    for client in [&mut alice, &mut bob] {
        let reply = client.request(json!({"type": "ping"})).await;
        assert!(matches!(reply, ServerMessage::Pong { .. }), "{reply:?}");
    }
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}
