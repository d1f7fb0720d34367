//! A gateway killed with SIGKILL (no drain, no cleanup): its players' room memberships and
//! sessions lapse within the session TTL, so counts stay true and nothing is delivered to
//! ghosts; its players reconnect to another gateway and find their rooms again.

mod common;

use std::time::{Duration, Instant};

use common::{Client, GatewayProcess, ws_addr};
use fred::prelude::KeysInterface;
use proto::{Encoding, ServerMessage};
use serde_json::json;

const SESSION_TTL_MS: u64 = 2000;

async fn members(client: &mut Client, room: &str) -> u32 {
    match client
        .request(json!({"type": "room.join", "room": room}))
        .await
    {
        ServerMessage::RoomJoined { members, .. } => members,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_killed_gateways_members_and_sessions_lapse_within_the_session_ttl() {
    let ns = testkit::unique_namespace("crash");
    let ttl = SESSION_TTL_MS.to_string();
    let overrides = [
        ("gateway.session_ttl_ms", ttl.as_str()),
        ("gateway.heartbeat_ms", "400"),
    ];
    let doomed = GatewayProcess::start(&ns, &overrides).await;
    let survivor = common::start(&ns, &overrides).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");

    let mut ghosts = Vec::new();
    for i in 0..3 {
        let mut ghost = Client::player(doomed.ws, &format!("ghost{i}"), Encoding::Json).await;
        members(&mut ghost, "hall").await;
        ghosts.push(ghost);
    }
    let mut alive = Client::player(ws_addr(&survivor), "alive", Encoding::MsgPack).await;
    assert_eq!(members(&mut alive, "hall").await, 4);

    doomed.kill().await;
    let killed = Instant::now();

    // The count comes back to the one live member within the TTL (polled: a lapse has no
    // event to wait for). The memberships were last refreshed at or before the kill, so
    // they lapse at most one TTL after it.
    loop {
        let count = members(&mut alive, "hall").await;
        if count == 1 {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_millis(SESSION_TTL_MS + 1000),
            "{count} members still counted {:?} after the kill",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lapsed_after = killed.elapsed();
    eprintln!("ghost memberships lapsed {lapsed_after:?} after the SIGKILL");
    for i in 0..3 {
        let session: i64 = redis
            .exists(keys.player(&format!("ghost{i}")).session())
            .await
            .expect("exists");
        assert_eq!(session, 0, "ghost{i}'s session lapsed too");
    }

    // A message to the room now reaches the live member only (and nobody hangs on ghosts).
    let reply = alive
        .request(json!({"type": "room.send", "room": "hall", "body": "anyone?"}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomSent { .. }));
    assert!(matches!(
        alive.recv().await,
        ServerMessage::RoomMessage { .. }
    ));

    // A ghost reconnects to the survivor: it is back in the hall without asking.
    drop(ghosts);
    let mut back = Client::player(ws_addr(&survivor), "ghost0", Encoding::Json).await;
    let reply = alive
        .request(json!({"type": "room.send", "room": "hall", "body": "welcome back"}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomSent { .. }));
    assert!(
        matches!(back.recv().await, ServerMessage::RoomMessage { from, .. } if from.as_str() == "alive")
    );
    assert_eq!(members(&mut alive, "hall").await, 2);
    survivor.stop().await.expect("stops");
}
