//! Every request and reply of PROTOCOL.md section 1, in both encodings, including the
//! queue messages (tickets written in the matchmaker's format through the shared crate).

mod common;

use common::{Client, assert_error, ws_addr};
use proto::{Encoding, ErrorCode, QueueState, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn every_message_type_in_both_encodings() {
    let ns = testkit::unique_namespace("proto");
    let gateway = common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    for encoding in [Encoding::Json, Encoding::MsgPack] {
        let me = format!("p-{encoding:?}");
        let mut c = Client::player(addr, &me, encoding).await;

        assert!(matches!(
            c.request(json!({"type": "ping"})).await,
            ServerMessage::Pong { .. }
        ));

        // Queue: join, status, the one-ticket rule, leave, status again.
        let ticket = match c
            .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
            .await
        {
            ServerMessage::QueueJoined {
                ticket,
                queue,
                region,
                ..
            } => {
                assert_eq!((queue.as_str(), region.as_str()), ("duel", "eu"));
                ticket
            }
            other => panic!("{other:?}"),
        };
        assert!(!ticket.as_str().is_empty());
        match c.request(json!({"type": "queue.status"})).await {
            ServerMessage::QueueStatus {
                state,
                queue,
                region,
                waited_ms,
                match_id,
                ..
            } => {
                assert_eq!(state, QueueState::Searching);
                assert_eq!(queue.map(|q| q.to_string()).as_deref(), Some("duel"));
                assert_eq!(region.map(|r| r.to_string()).as_deref(), Some("eu"));
                assert!(waited_ms.is_some());
                assert_eq!(match_id, None);
            }
            other => panic!("{other:?}"),
        }
        let again = c
            .request(json!({"type": "queue.join", "queue": "squad", "region": "us"}))
            .await;
        assert_error(&again, ErrorCode::AlreadyQueued);
        assert!(matches!(
            c.request(json!({"type": "queue.leave"})).await,
            ServerMessage::QueueLeft { .. }
        ));
        assert_error(
            &c.request(json!({"type": "queue.leave"})).await,
            ErrorCode::NotQueued,
        );
        match c.request(json!({"type": "queue.status"})).await {
            ServerMessage::QueueStatus { state, queue, .. } => {
                assert_eq!(state, QueueState::Idle);
                assert_eq!(queue, None);
            }
            other => panic!("{other:?}"),
        }
        assert_error(
            &c.request(json!({"type": "queue.join", "queue": "chess", "region": "eu"}))
                .await,
            ErrorCode::UnknownQueue,
        );
        assert_error(
            &c.request(json!({"type": "queue.join", "queue": "duel", "region": "mars"}))
                .await,
            ErrorCode::UnknownRegion,
        );

        // Rooms: join, send (the sender is a member and gets the message), leave.
        let room = format!("room-{encoding:?}");
        assert!(matches!(
            c.request(json!({"type": "room.join", "room": room})).await,
            ServerMessage::RoomJoined { members: 1, .. }
        ));
        assert!(matches!(
            c.request(json!({"type": "room.send", "room": room, "body": {"k": [1, 2]}}))
                .await,
            ServerMessage::RoomSent { .. }
        ));
        match c.recv().await {
            ServerMessage::RoomMessage { from, body, .. } => {
                assert_eq!(from.as_str(), me);
                assert_eq!(body.as_value(), &json!({"k": [1, 2]}));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.request(json!({"type": "room.leave", "room": room})).await,
            ServerMessage::RoomLeft { .. }
        ));

        // A whisper to oneself: the reply, then the push.
        assert!(matches!(
            c.request(json!({"type": "whisper", "to": me, "body": null}))
                .await,
            ServerMessage::WhisperSent { .. }
        ));
        assert!(matches!(c.recv().await, ServerMessage::Whisper { .. }));

        // Replaced: kicked, then 4001.
        let mut replacement = Client::player(addr, &me, encoding).await;
        let (before, code) = c.until_closed().await;
        assert!(
            before
                .iter()
                .any(|m| matches!(m, ServerMessage::Kicked { .. })),
            "{before:?}"
        );
        assert_eq!(code, Some(4001));
        assert!(matches!(
            replacement.request(json!({"type": "ping"})).await,
            ServerMessage::Pong { .. }
        ));
    }
    gateway.stop().await.expect("stops");
}
