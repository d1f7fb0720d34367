//! Draining on SIGTERM: clients are told to reconnect, can reconnect to another gateway
//! and still get their whispers; those that stay are closed with 4002; sessions go.

mod common;

use common::{Client, ws_addr};
use fred::prelude::KeysInterface;
use proto::{Encoding, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn clients_of_a_draining_gateway_move_to_another_and_keep_receiving() {
    let ns = testkit::unique_namespace("drain");
    let leaving = common::start(&ns, &[]).await;
    let staying = common::start(&ns, &[]).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");

    let mut mover = Client::player(ws_addr(&leaving), "mover", Encoding::Json).await;
    let mut stayer = Client::player(ws_addr(&leaving), "stayer", Encoding::MsgPack).await;
    let mut sender = Client::player(ws_addr(&staying), "sender", Encoding::Json).await;

    let stop = tokio::spawn(leaving.stop());
    match mover.recv().await {
        ServerMessage::Reconnect { reason, after_ms } => {
            assert_eq!(reason, "draining");
            assert!(after_ms <= 100);
        }
        other => panic!("{other:?}"),
    }
    // The draining gateway refuses new clients...
    // ...so the mover goes to the other one, as `reconnect` says.
    mover.close().await;
    let mut mover = Client::player(ws_addr(&staying), "mover", Encoding::Json).await;
    let reply = sender
        .request(json!({"type": "whisper", "to": "mover", "body": "found you"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::WhisperSent { .. }),
        "{reply:?}"
    );
    assert!(matches!(mover.recv().await, ServerMessage::Whisper { .. }));

    // The one that stayed is closed with 4002 after the grace period.
    let (before, code) = stayer.until_closed().await;
    assert!(
        before
            .iter()
            .any(|m| matches!(m, ServerMessage::Reconnect { .. }))
    );
    assert_eq!(code, Some(4002));
    stop.await
        .expect("joins")
        .expect("the gateway drains cleanly");

    // Its session is gone; the mover's new one is live.
    let stayer_session: i64 = redis
        .exists(keys.player("stayer").session())
        .await
        .expect("exists");
    assert_eq!(
        stayer_session, 0,
        "the drained client's session was removed"
    );
    let mover_session: i64 = redis
        .exists(keys.player("mover").session())
        .await
        .expect("exists");
    assert_eq!(mover_session, 1);
    staying.stop().await.expect("stops");
}
