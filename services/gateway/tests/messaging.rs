//! Whispers and rooms across several gateway instances that share nothing but Redis.

mod common;

use common::{Client, assert_error, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn a_whisper_reaches_a_player_on_another_gateway() {
    let ns = testkit::unique_namespace("whisper");
    let one = common::start(&ns, &[]).await;
    let two = common::start(&ns, &[]).await;
    let mut alice = Client::player(ws_addr(&one), "alice", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&two), "bob", Encoding::MsgPack).await;

    let reply = alice
        .request(json!({"type": "whisper", "to": "bob", "body": {"text": "hi"}}))
        .await;
    assert!(
        matches!(reply, ServerMessage::WhisperSent { .. }),
        "{reply:?}"
    );
    match bob.recv().await {
        ServerMessage::Whisper { from, body, ts } => {
            assert_eq!(from.as_str(), "alice");
            assert_eq!(body.as_value(), &json!({"text": "hi"}));
            assert!(ts > 0);
        }
        other => panic!("{other:?}"),
    }
    // And back, the other way round.
    let reply = bob
        .request(json!({"type": "whisper", "to": "alice", "body": "yo"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::WhisperSent { .. }),
        "{reply:?}"
    );
    assert!(
        matches!(alice.recv().await, ServerMessage::Whisper { from, .. } if from.as_str() == "bob")
    );

    let reply = alice
        .request(json!({"type": "whisper", "to": "nobody", "body": "?"}))
        .await;
    assert_error(&reply, ErrorCode::NotOnline);
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

#[tokio::test]
async fn a_room_across_three_gateways_delivers_every_message_once_to_every_member_only() {
    let ns = testkit::unique_namespace("room3");
    let gateways = [
        common::start(&ns, &[]).await,
        common::start(&ns, &[]).await,
        common::start(&ns, &[]).await,
    ];
    // Two members on each gateway, alternating encodings; one outsider per gateway.
    let mut members = Vec::new();
    let mut outsiders = Vec::new();
    for (g, gateway) in gateways.iter().enumerate() {
        for m in 0..2 {
            let encoding = if m == 0 {
                Encoding::Json
            } else {
                Encoding::MsgPack
            };
            members.push(Client::player(ws_addr(gateway), &format!("m{g}{m}"), encoding).await);
        }
        outsiders.push(Client::player(ws_addr(gateway), &format!("out{g}"), Encoding::Json).await);
    }
    let mut counts = Vec::new();
    for member in &mut members {
        match member
            .request(json!({"type": "room.join", "room": "lobby"}))
            .await
        {
            ServerMessage::RoomJoined { room, members, .. } => {
                assert_eq!(room.as_str(), "lobby");
                counts.push(members);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(counts, vec![1, 2, 3, 4, 5, 6], "counts span all gateways");

    // Every member sends one message; every member gets all six, exactly once each.
    for (i, member) in members.iter_mut().enumerate() {
        let reply = member
            .request(json!({"type": "room.send", "room": "lobby", "body": {"n": i}}))
            .await;
        assert!(matches!(reply, ServerMessage::RoomSent { .. }), "{reply:?}");
    }
    for member in &mut members {
        let mut seen = Vec::new();
        for _ in 0..6 {
            match member.recv().await {
                ServerMessage::RoomMessage {
                    room, from, body, ..
                } => {
                    assert_eq!(room.as_str(), "lobby");
                    seen.push((from.to_string(), body.as_value()["n"].as_u64()));
                }
                other => panic!("{}: {other:?}", member.player),
            }
        }
        seen.sort();
        let expected: Vec<(String, Option<u64>)> = (0..6)
            .map(|i| (format!("m{}{}", i / 2, i % 2), Some(i as u64)))
            .collect();
        assert_eq!(seen, expected, "{} saw each message once", member.player);
    }
    // Outsiders got none of it: their next frame is the reply to their own ping.
    for outsider in &mut outsiders {
        let reply = outsider.request(json!({"type": "ping"})).await;
        assert!(matches!(reply, ServerMessage::Pong { .. }), "{reply:?}");
    }
    // A member leaves: the count drops for everyone, and the leaver hears no more.
    let reply = members[0]
        .request(json!({"type": "room.leave", "room": "lobby"}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomLeft { .. }), "{reply:?}");
    match outsiders[2]
        .request(json!({"type": "room.join", "room": "lobby"}))
        .await
    {
        ServerMessage::RoomJoined { members, .. } => assert_eq!(members, 6),
        other => panic!("{other:?}"),
    }
    let reply = members[1]
        .request(json!({"type": "room.send", "room": "lobby", "body": "after"}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomSent { .. }));
    let reply = members[0].request(json!({"type": "ping"})).await;
    assert!(
        matches!(reply, ServerMessage::Pong { .. }),
        "the leaver gets no room message: {reply:?}"
    );
    // Sending to a room one is not in is refused.
    let reply = members[0]
        .request(json!({"type": "room.send", "room": "lobby", "body": "x"}))
        .await;
    assert_error(&reply, ErrorCode::BadRequest);
    for gateway in gateways {
        gateway.stop().await.expect("stops");
    }
}
