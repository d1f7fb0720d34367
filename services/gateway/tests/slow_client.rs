//! A client that stops reading is disconnected once its bounded outbound queue fills,
//! counted in the metrics, and nobody else is held up.

mod common;

use common::{Client, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_counted() {
    let ns = testkit::unique_namespace("slow");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.outbound_queue", "8"),
            ("gateway.rate_per_second", "100000"),
            ("gateway.rate_burst", "100000"),
            ("gateway.chat_per_minute", "100000"),
        ],
    )
    .await;
    let addr = ws_addr(&gateway);
    let mut slow = Client::player_with_small_buffer(addr, "slow").await;
    let mut sender = Client::player(addr, "sender", Encoding::Json).await;
    let mut bystander = Client::player(addr, "bystander", Encoding::MsgPack).await;

    // Whisper 4 KiB bodies at the slow client until the gateway drops it (bounded).
    let body = "x".repeat(4000);
    let mut delivered = 0;
    let mut dropped = false;
    for _ in 0..20_000 {
        match sender
            .request(json!({"type": "whisper", "to": "slow", "body": body}))
            .await
        {
            // Once dropped, the slow player is between sockets: whispers are kept for
            // their next socket, so the drop shows as the session ending.
            ServerMessage::WhisperSent { .. } => {
                delivered += 1;
                if delivered % 8 == 0 {
                    let presence = bystander
                        .request(json!({"type": "presence.get", "players": ["slow"]}))
                        .await;
                    if matches!(&presence, ServerMessage::Presence { players, .. }
                        if players.values().all(|p| !p.online))
                    {
                        dropped = true;
                        break;
                    }
                }
            }
            ServerMessage::Error {
                code: ErrorCode::NotOnline,
                ..
            } => {
                dropped = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        dropped,
        "the slow client was never dropped ({delivered} whispers)"
    );
    eprintln!("dropped after {delivered} whispers of 4 KiB");
    assert!(delivered >= 8, "the queue held its 8 frames first");
    let presence = bystander
        .request(json!({"type": "presence.get", "players": ["slow"]}))
        .await;
    assert!(
        matches!(&presence, ServerMessage::Presence { players, .. } if players.values().all(|p| !p.online)),
        "the slow client's session ended: {presence:?}"
    );

    // The others were never held up.
    let reply = bystander.request(json!({"type": "ping"})).await;
    assert!(matches!(reply, ServerMessage::Pong { .. }));

    // Counted.
    let metrics = reqwest::get(format!("http://{}/metrics", gateway.ops_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rallypoint_gateway_disconnects_total{reason=\"too_slow\"}")),
        "the drop is counted"
    );
    // The slow client's socket ends (a close frame with 4003 if it got through).
    let (_, code) = slow.until_closed().await;
    assert!(matches!(code, None | Some(4003)), "{code:?}");
    gateway.stop().await.expect("stops");
}
