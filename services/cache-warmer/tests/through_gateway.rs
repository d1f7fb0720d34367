//! What a game client reads through a gateway: its own profile (`profile.get`) and static
//! game data (`data.get`), served from the gateway's local cache, fed by the cache-warmer
//! from PostgreSQL, and fresh again right after an operator's invalidation.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;

use std::time::Duration;

use gateway_common::{Client, ws_addr};
use proto::{Encoding, ServerMessage};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reads_its_profile_and_game_data_and_sees_changes_after_an_invalidation() {
    let ns = testkit::unique_namespace("reads");
    let player = format!("reader-{ns}");
    let kind = format!("items-{ns}");
    let db = common::db().await;
    common::set_rating(&db, &player, 1777.0).await;
    let version = persistence::game_data::put(&db, &kind, "sword", &json!({"damage": 10}))
        .await
        .expect("put");
    let warmer = common::start(&ns, &[]).await;
    // Local copies live ten minutes: only an announced change can refresh them in this test.
    let gateway = gateway_common::start(
        &ns,
        &[
            ("matchmaking.profiles", "required"),
            // Generous for a busy CI machine; the wait ends as soon as the profile is there.
            ("matchmaking.profile_wait_ms", "10000"),
            ("gateway.cache_ttl_ms", "600000"),
        ],
    )
    .await;

    for encoding in [Encoding::Json, Encoding::MsgPack] {
        let mut client = Client::player(ws_addr(&gateway), &player, encoding).await;
        match client.request(json!({"type": "profile.get"})).await {
            ServerMessage::Profile {
                player: p,
                rating,
                games,
                ..
            } => {
                assert_eq!((p.as_str(), rating, games), (player.as_str(), 1777.0, 0));
            }
            other => panic!("{encoding:?}: expected profile, got {other:?}"),
        }
        match client
            .request(json!({"type": "data.get", "kind": kind, "id": "sword"}))
            .await
        {
            ServerMessage::Data {
                version: v,
                document,
                ..
            } => {
                assert_eq!(v as i64, version);
                assert_eq!(document, Some(json!({"damage": 10})));
            }
            other => panic!("{encoding:?}: expected data, got {other:?}"),
        }
        match client
            .request(json!({"type": "data.get", "kind": kind, "id": "shield"}))
            .await
        {
            ServerMessage::Data { document, .. } => assert_eq!(document, None),
            other => panic!("{encoding:?}: expected data, got {other:?}"),
        }
        // A malformed request is a clear error, the connection stays.
        match client
            .request(json!({"type": "data.get", "kind": kind}))
            .await
        {
            ServerMessage::Error { code, .. } => assert_eq!(code, proto::ErrorCode::BadRequest),
            other => panic!("{encoding:?}: expected an error, got {other:?}"),
        }
    }

    // Changed in PostgreSQL, then invalidated: the gateway's next reads are fresh.
    persistence::players::rename(&db, &player, "Champion")
        .await
        .expect("renamed");
    let newer = persistence::game_data::put(&db, &kind, "sword", &json!({"damage": 12}))
        .await
        .expect("put");
    let http = reqwest::Client::new();
    for body in [json!({"dataset": kind}), json!({"players": [player]})] {
        let response = http
            .post(format!("http://{}/v1/cache/invalidate", warmer.ops_addr))
            .bearer_auth(common::ADMIN)
            .json(&body)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 200);
    }
    let mut client = Client::player(ws_addr(&gateway), &player, Encoding::Json).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        match client.request(json!({"type": "profile.get"})).await {
            ServerMessage::Profile { name, .. } if name == "Champion" => break,
            ServerMessage::Profile { name, .. } => assert!(
                std::time::Instant::now() < deadline,
                "still the old name {name:?} after the invalidation"
            ),
            other => panic!("expected profile, got {other:?}"),
        }
    }
    // The data set's announcement went out before the profile's, on the same channel.
    match client
        .request(json!({"type": "data.get", "kind": kind, "id": "sword"}))
        .await
    {
        ServerMessage::Data {
            version, document, ..
        } => {
            assert_eq!(version as i64, newer);
            assert_eq!(document, Some(json!({"damage": 12})));
        }
        other => panic!("expected data, got {other:?}"),
    }
    // A kind PostgreSQL does not hold: no document, at once (nothing to warm).
    match client
        .request(json!({"type": "data.get", "kind": format!("nothing-{ns}"), "id": "x"}))
        .await
    {
        ServerMessage::Data {
            version, document, ..
        } => assert_eq!((version, document), (0, None)),
        other => panic!("expected data, got {other:?}"),
    }
    gateway.stop().await.expect("stops");
    warmer.stop().await.expect("stops");
}
