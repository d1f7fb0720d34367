//! Bad input gets the protocol's error or close code, and the other clients on the gateway
//! keep being served.

mod common;

use common::{Client, GatewayProcess, assert_error, still_served, ws_addr};
use fred::prelude::KeysInterface;
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;
use std::time::Duration;

/// A bystander on the same gateway still gets answers.
#[tokio::test]
async fn malformed_requests_get_error_replies_and_the_connection_stays() {
    let ns = testkit::unique_namespace("badreq");
    let gateway = common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let mut bystander = Client::player(addr, "bystander", Encoding::MsgPack).await;

    let mut json_client = Client::player(addr, "j", Encoding::Json).await;
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("invalid JSON", b"{not json".to_vec(), ErrorCode::BadRequest),
        ("not an object", b"[1,2]".to_vec(), ErrorCode::BadRequest),
        ("no type", br#"{"rid":1}"#.to_vec(), ErrorCode::BadRequest),
        (
            "unknown type",
            br#"{"type":"teleport","rid":2}"#.to_vec(),
            ErrorCode::UnknownType,
        ),
        (
            "missing field",
            br#"{"type":"room.join","rid":3}"#.to_vec(),
            ErrorCode::BadRequest,
        ),
        (
            "wrong type",
            br#"{"type":"room.join","room":5}"#.to_vec(),
            ErrorCode::BadRequest,
        ),
        (
            "invalid id",
            br#"{"type":"whisper","to":"a b","body":1}"#.to_vec(),
            ErrorCode::BadRequest,
        ),
        (
            "body over 4 KiB",
            format!(
                r#"{{"type":"whisper","to":"x","body":"{}"}}"#,
                "x".repeat(5000)
            )
            .into_bytes(),
            ErrorCode::TooLarge,
        ),
    ];
    for (what, bytes, code) in cases {
        json_client.send_raw(bytes).await;
        let reply = json_client.recv().await;
        assert_error(&reply, code);
        eprintln!("{what}: {reply:?}");
        still_served(&mut bystander).await;
    }
    // The rid of a bad request is echoed when it could be read.
    json_client
        .send_raw(br#"{"type":"teleport","rid":"r-9"}"#.to_vec())
        .await;
    let reply = json_client.recv().await;
    assert_eq!(reply.rid(), Some(&proto::Rid::Str("r-9".into())));

    let mut msgpack_client = Client::player(addr, "m", Encoding::MsgPack).await;
    for (what, bytes, code) in [
        (
            "invalid MessagePack",
            vec![0xc1, 0x00, 0xff],
            ErrorCode::BadRequest,
        ),
        (
            "truncated MessagePack",
            vec![0x82, 0xa4, b't', b'y'],
            ErrorCode::BadRequest,
        ),
        (
            "unknown type",
            rmp_serde::to_vec_named(&json!({"type": "fly"})).expect("encodes"),
            ErrorCode::UnknownType,
        ),
    ] {
        msgpack_client.send_raw(bytes).await;
        let reply = msgpack_client.recv().await;
        eprintln!("{what}: {reply:?}");
        assert_error(&reply, code);
    }
    // Both still work.
    still_served(&mut json_client).await;
    still_served(&mut msgpack_client).await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let ns = testkit::unique_namespace("big");
    let gateway = common::start(&ns, &[("gateway.max_frame_bytes", "4096")]).await;
    let addr = ws_addr(&gateway);
    let mut bystander = Client::player(addr, "bystander", Encoding::Json).await;
    let mut client = Client::player(addr, "big", Encoding::Json).await;
    client
        .send_raw(format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(8000)).into_bytes())
        .await;
    let (_, code) = client.until_closed().await;
    assert_eq!(code, Some(1009));
    still_served(&mut bystander).await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed_with_1008() {
    let ns = testkit::unique_namespace("flood");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.rate_per_second", "5"),
            ("gateway.rate_burst", "5"),
            ("gateway.abuse_strikes", "10"),
        ],
    )
    .await;
    let addr = ws_addr(&gateway);
    let mut bystander = Client::player(addr, "bystander", Encoding::Json).await;
    let mut flooder = Client::player(addr, "flooder", Encoding::Json).await;
    for i in 0..40 {
        flooder.send(json!({"type": "ping", "rid": i})).await;
    }
    let (replies, code) = flooder.until_closed().await;
    let pongs = replies
        .iter()
        .filter(|m| matches!(m, ServerMessage::Pong { .. }))
        .count();
    let limited = replies
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    assert!(
        (5..=7).contains(&pongs),
        "the burst passes: {pongs} pongs: {replies:?} {code:?}"
    );
    assert_eq!(limited, 10, "ten refusals, then the close");
    assert_eq!(code, Some(1008));
    still_served(&mut bystander).await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn the_chat_limit_holds_across_gateways_and_reconnects() {
    let ns = testkit::unique_namespace("chat");
    let limits = [
        ("gateway.chat_per_minute", "5"),
        ("gateway.abuse_strikes", "100"),
    ];
    let one = common::start(&ns, &limits).await;
    let two = common::start(&ns, &limits).await;
    let mut target = Client::player(ws_addr(&two), "target", Encoding::Json).await;
    let mut chatty = Client::player(ws_addr(&one), "chatty", Encoding::Json).await;
    for _ in 0..3 {
        let reply = chatty
            .request(json!({"type": "whisper", "to": "target", "body": "hi"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "{reply:?}"
        );
    }
    chatty.close().await;
    // Once the connection has closed (its session is gone: it saved the budget first),
    // a reconnect on the other gateway gets two more, and the sixth is refused.
    let session = core_keys::Keys::new(&ns)
        .expect("ns")
        .player("chatty")
        .session();
    key_exists(&session, false).await;
    let mut chatty = Client::player(ws_addr(&two), "chatty", Encoding::Json).await;
    for _ in 0..2 {
        let reply = chatty
            .request(json!({"type": "whisper", "to": "target", "body": "hi"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "{reply:?}"
        );
    }
    let reply = chatty
        .request(json!({"type": "room.join", "room": "r"}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomJoined { .. }));
    let reply = chatty
        .request(json!({"type": "room.send", "room": "r", "body": "hi"}))
        .await;
    assert_error(&reply, ErrorCode::RateLimited);
    let reply = chatty
        .request(json!({"type": "whisper", "to": "target", "body": "hi"}))
        .await;
    assert_error(&reply, ErrorCode::RateLimited);
    // The target got exactly the five allowed.
    for _ in 0..5 {
        assert!(matches!(target.recv().await, ServerMessage::Whisper { .. }));
    }
    still_served(&mut target).await;
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

/// Waits (bounded) until `key` exists in Redis, or until it is gone.
async fn key_exists(key: &str, exists: bool) {
    let redis = common::redis().await;
    let what = if exists {
        "to be written"
    } else {
        "to be gone"
    };
    testkit::wait_until(&format!("{key} {what}"), Duration::from_secs(10), || {
        let redis = redis.clone();
        async move {
            let found: i64 = redis.exists(key).await.ok()?;
            ((found == 1) == exists).then_some(())
        }
    })
    .await
    .expect("in time");
}

/// The heartbeats a gateway process has finished (`rallypoint_gateway_heartbeats_total`).
async fn beats(gateway: &GatewayProcess) -> f64 {
    testkit::metrics_text(&gateway.process.ops)
        .await
        .and_then(|text| testkit::metric_value(&text, "rallypoint_gateway_heartbeats_total"))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_replaced_connections_spending_reaches_its_successor() {
    let ns = testkit::unique_namespace("chatreplace");
    let limits = [
        ("gateway.chat_per_minute", "5"),
        ("gateway.abuse_strikes", "100"),
        ("gateway.heartbeat_ms", "200"),
    ];
    let one = GatewayProcess::start(&ns, &limits).await;
    let two = GatewayProcess::start(&ns, &limits).await;
    let mut target = Client::player(two.ws, "target", Encoding::Json).await;
    let mut old = Client::player(one.ws, "chatty", Encoding::Json).await;
    let whisper = json!({"type": "whisper", "to": "target", "body": "hi"});
    for _ in 0..3 {
        let reply = old.request(whisper.clone()).await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "{reply:?}"
        );
    }
    // A second connection while the first is still open: it opens from whatever was saved
    // (maybe nothing yet), and the first is kicked and saves what it spent as it closes.
    let mut new = Client::player(two.ws, "chatty", Encoding::Json).await;
    let (_, code) = old.until_closed().await;
    assert_eq!(code, Some(4001), "the first connection is replaced");
    let saved = core_keys::Keys::new(&ns)
        .expect("ns")
        .player("chatty")
        .chat_rate();
    key_exists(&saved, true).await;
    // The successor's gateway beats twice more: its touch has merged the saved budget.
    let before = beats(&two).await;
    testkit::wait_until(
        "two heartbeats of the successor's gateway",
        Duration::from_secs(10),
        || async { (beats(&two).await >= before + 2.0).then_some(()) },
    )
    .await
    .expect("beats");
    for _ in 0..2 {
        let reply = new.request(whisper.clone()).await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "{reply:?}"
        );
    }
    let reply = new.request(whisper.clone()).await;
    assert_error(&reply, ErrorCode::RateLimited);
    for _ in 0..5 {
        assert!(matches!(target.recv().await, ServerMessage::Whisper { .. }));
    }
    still_served(&mut target).await;
    one.kill().await;
    two.kill().await;
}

#[tokio::test]
async fn the_chat_budget_refills_evenly_and_says_when_the_next_may_go() {
    let ns = testkit::unique_namespace("chatrefill");
    // 12 a minute: a burst of 12, then one every 5 s (long enough that a slow machine
    // does not see a second refill between the last two requests).
    let gateway = common::start(
        &ns,
        &[
            ("gateway.chat_per_minute", "12"),
            ("gateway.abuse_strikes", "100"),
        ],
    )
    .await;
    let mut target = Client::player(ws_addr(&gateway), "target", Encoding::Json).await;
    let mut chatty = Client::player(ws_addr(&gateway), "chatty", Encoding::Json).await;
    let whisper = json!({"type": "whisper", "to": "target", "body": "hi"});
    for n in 0..12 {
        let reply = chatty.request(whisper.clone()).await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "message {n} of the burst: {reply:?}"
        );
    }
    let wait_ms = |reply: &ServerMessage| -> u64 {
        assert_error(reply, ErrorCode::RateLimited);
        let ServerMessage::Error { message, .. } = reply else {
            unreachable!("an error")
        };
        let ms = message
            .rsplit("in ")
            .next()
            .and_then(|rest| rest.trim_end_matches(" ms").parse().ok())
            .unwrap_or_else(|| panic!("the refusal says when: {message}"));
        assert!(
            (1..=5_000).contains(&ms),
            "one message refills in 5 s: {message}"
        );
        ms
    };
    let wait = wait_ms(&chatty.request(whisper.clone()).await);
    // The limit's own promise is a time: wait exactly what it said, then one more passes
    // and the next is refused again.
    tokio::time::sleep(std::time::Duration::from_millis(wait + 50)).await;
    let reply = chatty.request(whisper.clone()).await;
    assert!(
        matches!(reply, ServerMessage::WhisperSent { .. }),
        "refilled after {wait} ms: {reply:?}"
    );
    wait_ms(&chatty.request(whisper.clone()).await);
    for _ in 0..13 {
        assert!(matches!(target.recv().await, ServerMessage::Whisper { .. }));
    }
    still_served(&mut target).await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let ns = testkit::unique_namespace("idle");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.heartbeat_ms", "200"),
            ("gateway.session_ttl_ms", "1000"),
            ("gateway.idle_timeout_ms", "600"),
        ],
    )
    .await;
    let mut client = Client::player(ws_addr(&gateway), "sleepy", Encoding::Json).await;
    let (_, code) = client.until_closed().await;
    assert_eq!(code, Some(4004));
    gateway.stop().await.expect("stops");
}
