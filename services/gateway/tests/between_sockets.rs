//! Pushes across a socket replacement (PROTOCOL.md section 1, "Sessions, rooms and
//! reconnects"): what is sent to a player between sockets (within the reconnect grace,
//! from any gateway) arrives right after `welcome` on their next socket, in order, once;
//! a socket replaced while pushes keep coming hands them over at one point, so each
//! reaches exactly one of the two sockets, in order, none lost.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Client, assert_error, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

const FAST_CHAT: [(&str, &str); 4] = [
    ("gateway.chat_per_minute", "100000"),
    ("gateway.rate_per_second", "10000"),
    ("gateway.rate_burst", "10000"),
    ("gateway.reconnect_grace_ms", "3000"),
];

/// A `match.found` for `player`, as the pool's announcer pushes it.
fn match_found(match_id: &str) -> ServerMessage {
    serde_json::from_value(json!({
        "type": "match.found", "match": match_id, "queue": "duel", "region": "eu",
        "teams": [[{"player": "p", "rating": 1500.0}]],
        "server": {"id": "gs-1", "address": "127.0.0.1:7777"}, "join_token": "t"
    }))
    .expect("a match.found")
}

async fn publisher(ns: &str) -> (service_runtime::publish::Publisher, core_keys::Keys) {
    let redis = common::redis().await;
    (
        service_runtime::publish::Publisher::new(redis),
        core_keys::Keys::new(ns).expect("a namespace"),
    )
}

async fn whisper(sender: &mut Client, to: &str, n: u64) -> ServerMessage {
    sender
        .request(json!({"type": "whisper", "to": to, "body": {"n": n}}))
        .await
}

/// The `n` of a whisper, or `None` for anything else.
fn whispered(message: &ServerMessage) -> Option<u64> {
    match message {
        ServerMessage::Whisper { body, .. } => body.as_value()["n"].as_u64(),
        _ => None,
    }
}

/// Waits (polled, bounded) until `player` is offline as presence sees it: their socket's
/// close was handled.
async fn until_offline(asker: &mut Client, player: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match asker
            .request(json!({"type": "presence.get", "players": [player]}))
            .await
        {
            ServerMessage::Presence { players, .. } if players.values().all(|p| !p.online) => {
                return;
            }
            ServerMessage::Presence { .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "{player} still online 5 s after closing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pushes_sent_between_sockets_arrive_after_welcome_in_order_once() {
    let ns = testkit::unique_namespace("between");
    let one = common::start(&ns, &FAST_CHAT).await;
    let two = common::start(&ns, &FAST_CHAT).await;
    let (publisher, keys) = publisher(&ns).await;
    let mut sender = Client::player(ws_addr(&two), "sender", Encoding::Json).await;

    let away = Client::player(ws_addr(&one), "away", Encoding::MsgPack).await;
    away.close().await;
    until_offline(&mut sender, "away").await;

    // Sent while the player has no socket: kept (the whispers are answered as sent).
    for n in 0..5 {
        let reply = whisper(&mut sender, "away", n).await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "{reply:?}"
        );
    }
    publisher
        .push_to_player(&keys, "away", match_found("m-between"))
        .await;
    for n in 5..10 {
        let reply = whisper(&mut sender, "away", n).await;
        assert!(
            matches!(reply, ServerMessage::WhisperSent { .. }),
            "{reply:?}"
        );
    }
    // A player never seen is not online; nothing is kept for them.
    let refused = whisper(&mut sender, "stranger", 0).await;
    assert_error(&refused, ErrorCode::NotOnline);

    // Back, on the other gateway: right after welcome, everything, in order, once.
    let mut back = Client::player(ws_addr(&two), "away", Encoding::MsgPack).await;
    let mut got = Vec::new();
    while got.len() < 11 {
        let message = back.recv().await;
        got.push(match whispered(&message) {
            Some(n) => format!("w{n}"),
            None => match message {
                ServerMessage::MatchFound { match_id, .. } => format!("found {match_id}"),
                other => panic!("expected the kept pushes, got {other:?}"),
            },
        });
    }
    let expected: Vec<String> = (0..5)
        .map(|n| format!("w{n}"))
        .chain(["found m-between".to_owned()])
        .chain((5..10).map(|n| format!("w{n}")))
        .collect();
    assert_eq!(got, expected);
    // Then live, and nothing twice.
    let reply = whisper(&mut sender, "away", 10).await;
    assert!(
        matches!(reply, ServerMessage::WhisperSent { .. }),
        "{reply:?}"
    );
    assert_eq!(whispered(&back.recv().await), Some(10));
    back.close().await;
    until_offline(&mut sender, "away").await;

    // Past the reconnect grace nothing is kept: not online.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        match whisper(&mut sender, "away", 11).await {
            ServerMessage::WhisperSent { .. } => {
                assert!(
                    Instant::now() < deadline,
                    "still kept 6 s after a 3 s grace"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            refused => {
                assert_error(&refused, ErrorCode::NotOnline);
                break;
            }
        }
    }
}

#[tokio::test]
async fn a_replaced_socket_hands_every_push_to_exactly_one_of_the_two_sockets() {
    const TOTAL: u64 = 300;
    let ns = testkit::unique_namespace("handover");
    let one = common::start(&ns, &FAST_CHAT).await;
    let two = common::start(&ns, &FAST_CHAT).await;
    let three = common::start(&ns, &FAST_CHAT).await;
    let (publisher, keys) = publisher(&ns).await;
    let mut first = Client::player(ws_addr(&one), "mover", Encoding::Json).await;
    let mut sender = Client::player(ws_addr(&three), "sender", Encoding::MsgPack).await;

    // Whispers every 2 ms, and a match.found in the middle, throughout the replacement.
    let sending = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(2));
        for n in 0..TOTAL {
            pace.tick().await;
            let reply = whisper(&mut sender, "mover", n).await;
            assert!(
                matches!(reply, ServerMessage::WhisperSent { .. }),
                "whisper {n}: {reply:?}"
            );
            if n == TOTAL / 2 {
                publisher
                    .push_to_player(&keys, "mover", match_found("m-handover"))
                    .await;
            }
        }
    });
    // The first socket reads a few, then the player connects again elsewhere.
    let mut on_first = Vec::new();
    while on_first.len() < 20 {
        let message = first.recv().await;
        on_first.push(message);
    }
    let mut second = Client::player(ws_addr(&two), "mover", Encoding::MsgPack).await;
    let (rest, code) = first.until_closed().await;
    assert_eq!(code, Some(4001), "the first socket is closed as replaced");
    on_first.extend(rest);
    sending.await.expect("the sender finished");
    let first_ns: Vec<u64> = on_first.iter().filter_map(whispered).collect();

    // The second socket: everything after the hand-over, up to the last whisper.
    let mut on_second = Vec::new();
    while on_second.iter().rev().find_map(whispered) != Some(TOTAL - 1) {
        on_second.push(second.recv().await);
    }
    let second_ns: Vec<u64> = on_second.iter().filter_map(whispered).collect();
    assert!(
        !second_ns.is_empty(),
        "the new socket got the pushes after the hand-over"
    );
    assert!(
        first_ns.windows(2).all(|w| w[0] < w[1]) && second_ns.windows(2).all(|w| w[0] < w[1]),
        "in order on each socket"
    );
    assert!(
        first_ns.last() < second_ns.first(),
        "one hand-over point: the old socket's pushes all came before the new one's"
    );
    let all: Vec<u64> = first_ns.iter().chain(&second_ns).copied().collect();
    assert_eq!(
        all.iter().copied().collect::<BTreeSet<_>>().len(),
        all.len(),
        "no whisper on both sockets"
    );
    assert_eq!(all, (0..TOTAL).collect::<Vec<_>>(), "no whisper lost");
    let found = on_first
        .iter()
        .chain(&on_second)
        .filter(|m| matches!(m, ServerMessage::MatchFound { .. }))
        .count();
    assert_eq!(found, 1, "the match.found on exactly one socket");
    // Nothing more on the new socket.
    let pong = second.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
}
