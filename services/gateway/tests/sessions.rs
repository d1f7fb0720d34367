//! One live session per player: a second connection, on any gateway, replaces the first;
//! the old socket is told and closed with 4001; its late cleanup leaves the new session
//! alone; and rooms follow the player to the new connection.

mod common;

use std::collections::HashMap;

use common::{Client, ws_addr};
use fred::prelude::HashesInterface;
use proto::{Encoding, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn the_heartbeat_leaves_out_the_party_and_rooms_of_a_player_in_neither() {
    use fred::prelude::{KeysInterface, SetsInterface};
    let ns = testkit::unique_namespace("refresh-lean");
    let one = common::start(&ns, &[]).await;
    let redis = common::redis().await;
    let erin = core_keys::Keys::new(&ns).expect("ns").player("erin");
    let _client = Client::player(ws_addr(&one), "erin", Encoding::Json).await;
    // The first refresh reads the party (a new connection may have one) and finds none.
    common::ttl_pushed(&redis, &erin.session(), 2).await;

    // Keys a refresh that still touched them would push forward to the session TTL plus
    // the reconnect grace (33 s here).
    let _: () = redis
        .set(
            &erin.party(),
            "someone-elses",
            Some(fred::types::Expiration::PX(4_000)),
            None,
            false,
        )
        .await
        .expect("set");
    let _: i64 = redis.sadd(&erin.rooms(), "hall").await.expect("sadd");
    let _: bool = redis
        .pexpire(&erin.rooms(), 4_000, None)
        .await
        .expect("pexpire");
    common::ttl_pushed(&redis, &erin.session(), 2).await;
    for key in [erin.party(), erin.rooms()] {
        let left = common::pttl(&redis, &key).await;
        assert!(
            (0..4_000).contains(&left),
            "{key} has {left} ms left: the refresh pushed it forward"
        );
    }
}

#[tokio::test]
async fn a_second_connection_on_another_gateway_replaces_the_first() {
    let ns = testkit::unique_namespace("replace");
    let one = common::start(&ns, &[]).await;
    let two = common::start(&ns, &[]).await;
    let redis = common::redis().await;
    let session_key = core_keys::Keys::new(&ns)
        .expect("ns")
        .player("carol")
        .session();

    let mut first = Client::player(ws_addr(&one), "carol", Encoding::Json).await;
    let reply = first
        .request(json!({"type": "room.join", "room": "club"}))
        .await;
    assert!(matches!(
        reply,
        ServerMessage::RoomJoined { members: 1, .. }
    ));

    let mut second = Client::player(ws_addr(&two), "carol", Encoding::MsgPack).await;
    let (before_close, code) = first.until_closed().await;
    assert_eq!(code, Some(4001), "the replaced socket closes with 4001");
    assert!(
        before_close.iter().any(|m| matches!(
            m,
            ServerMessage::Kicked { reason } if reason == "session_replaced"
        )),
        "kicked before the close: {before_close:?}"
    );

    // The old connection's cleanup has run by the time its socket closed; give the new
    // session a heartbeat round trip and check it is still the one in Redis.
    let reply = second.request(json!({"type": "ping"})).await;
    assert!(matches!(reply, ServerMessage::Pong { .. }));
    let session: HashMap<String, String> = redis.hgetall(&session_key).await.expect("hgetall");
    assert_eq!(session.get("conn"), Some(&second.session()));
    assert_eq!(session.get("gateway"), Some(&two.instance_id));

    // The room followed the player: a message to it reaches the new connection.
    let mut dave = Client::player(ws_addr(&one), "dave", Encoding::Json).await;
    match dave
        .request(json!({"type": "room.join", "room": "club"}))
        .await
    {
        ServerMessage::RoomJoined { members, .. } => {
            assert_eq!(members, 2, "carol (new connection) and dave")
        }
        other => panic!("{other:?}"),
    }
    let reply = dave
        .request(json!({"type": "room.send", "room": "club", "body": "hello carol"}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomSent { .. }));
    assert!(
        matches!(second.recv().await, ServerMessage::RoomMessage { from, .. } if from.as_str() == "dave")
    );

    // A whisper reaches only the newest session.
    let reply = dave
        .request(json!({"type": "whisper", "to": "carol", "body": 1}))
        .await;
    assert!(matches!(reply, ServerMessage::WhisperSent { .. }));
    assert!(matches!(second.recv().await, ServerMessage::Whisper { .. }));

    // A clean close removes the session.
    second.close().await;
    testkit::wait_until(
        "carol's session to be removed",
        std::time::Duration::from_secs(5),
        || async {
            let exists: i64 = fred::prelude::KeysInterface::exists(&redis, &session_key)
                .await
                .ok()?;
            (exists == 0).then_some(())
        },
    )
    .await
    .expect("removed");
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

#[tokio::test]
async fn a_second_connection_on_the_same_gateway_replaces_the_first() {
    let ns = testkit::unique_namespace("replace1");
    let gateway = common::start(&ns, &[]).await;
    let mut first = Client::player(ws_addr(&gateway), "erin", Encoding::Json).await;
    let mut second = Client::player(ws_addr(&gateway), "erin", Encoding::Json).await;
    let (_, code) = first.until_closed().await;
    assert_eq!(code, Some(4001));
    let reply = second.request(json!({"type": "ping"})).await;
    assert!(matches!(reply, ServerMessage::Pong { .. }));
    gateway.stop().await.expect("stops");
}
