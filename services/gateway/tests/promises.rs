//! Promises of PROTOCOL.md and the architecture that no other test crosses: the rooms limit
//! per connection, the `503` on an upgrade while the gateway drains, and a session that
//! lapsed in Redis coming back with the next heartbeat.

mod common;

use std::time::Duration;

use common::{Client, assert_error, open, ws_addr};
use fred::prelude::KeysInterface;
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn the_33rd_room_join_is_refused_and_the_connection_goes_on() {
    let ns = testkit::unique_namespace("max-rooms");
    let gateway = common::start(&ns, &[]).await;
    let mut client = Client::player(ws_addr(&gateway), "roomy", Encoding::Json).await;
    for i in 0..32 {
        let joined = client
            .request(json!({"type": "room.join", "room": format!("r{i}")}))
            .await;
        assert!(
            matches!(joined, ServerMessage::RoomJoined { .. }),
            "room {i}: {joined:?}"
        );
    }
    let refused = client
        .request(json!({"type": "room.join", "room": "r32"}))
        .await;
    assert_error(&refused, ErrorCode::BadRequest);
    // Leaving one makes room for another, and the connection is served all along.
    let left = client
        .request(json!({"type": "room.leave", "room": "r0"}))
        .await;
    assert!(matches!(left, ServerMessage::RoomLeft { .. }), "{left:?}");
    let joined = client
        .request(json!({"type": "room.join", "room": "r32"}))
        .await;
    assert!(
        matches!(joined, ServerMessage::RoomJoined { .. }),
        "{joined:?}"
    );
    client.close().await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn an_upgrade_while_the_gateway_drains_gets_503() {
    let ns = testkit::unique_namespace("drain-503");
    // A long grace: the drain lasts while the test knocks.
    let gateway = common::start(&ns, &[("gateway.drain_grace_ms", "5000")]).await;
    let addr = ws_addr(&gateway);
    let ops = gateway.ops_addr;
    let held = Client::player(addr, "held", Encoding::Json).await;
    let stopping = tokio::spawn(gateway.stop());
    testkit::wait_until("the gateway to drain", Duration::from_secs(10), || async {
        let status = reqwest::get(format!("http://{ops}/health/ready"))
            .await
            .ok()?
            .status();
        (status == 503).then_some(())
    })
    .await
    .expect("draining");
    let refused = open(addr, "guest=late", &[])
        .await
        .expect_err("no new connection while draining");
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "unavailable");
    drop(held);
    stopping
        .await
        .expect("the stop task")
        .expect("the gateway stops");
}

#[tokio::test]
async fn a_session_deleted_in_redis_comes_back_with_the_next_heartbeat() {
    let ns = testkit::unique_namespace("lapsed");
    let gateway = common::start(&ns, &[]).await;
    let mut client = Client::player(ws_addr(&gateway), "lapsed", Encoding::Json).await;
    let session = core_keys::Keys::new(&ns)
        .expect("ns")
        .player("lapsed")
        .session();
    let redis = common::redis().await;
    let deleted: i64 = redis.del(&session).await.expect("del");
    assert_eq!(deleted, 1, "the session was there");
    // The heartbeat (every 500 ms here) writes it again.
    testkit::wait_until(
        "the session to come back",
        Duration::from_secs(10),
        || async {
            let exists: bool = redis.exists(&session).await.ok()?;
            exists.then_some(())
        },
    )
    .await
    .expect("restored");
    let pong = client.request(json!({"type": "ping", "rid": 1})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    client.close().await;
    gateway.stop().await.expect("stops");
}
