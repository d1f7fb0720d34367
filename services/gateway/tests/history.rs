//! Room history and recovery (PROTOCOL.md section 1): in a room whose kind keeps history,
//! every `room.message` carries its offset (one more per message, the same on every
//! gateway); a member that reconnects to another gateway and joins with `since` gets
//! exactly the messages it missed, in order, before the live ones, while a sender keeps
//! sending; `room.history` pages back; a `since` older than what is kept says
//! `recovered: false` and sends what is kept.

mod common;

use std::time::Duration;

use common::{Client, assert_error, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::{Value, json};

const ROOM: &str = "lobby:recovery";

/// The gateway settings of these tests: `lobby:` rooms keep 1,000 messages, `short:`
/// rooms 5; chat limits out of the way of a fast sender.
const ROOMS: [(&str, &str); 9] = [
    ("gateway.rooms.lobby.prefix", "lobby:"),
    ("gateway.rooms.lobby.history_len", "1000"),
    ("gateway.rooms.lobby.history_ttl_ms", "60000"),
    ("gateway.rooms.short.prefix", "short:"),
    ("gateway.rooms.short.history_len", "5"),
    ("gateway.rooms.short.history_ttl_ms", "60000"),
    ("gateway.chat_per_minute", "100000"),
    ("gateway.rate_per_second", "10000"),
    ("gateway.rate_burst", "10000"),
];

/// `(n, offset)` of a `room.message` whose body is {"n": n}.
fn numbered(message: &ServerMessage, room: &str) -> Option<(u64, u64)> {
    match message {
        ServerMessage::RoomMessage {
            room: to,
            body,
            offset,
            ..
        } if to.as_str() == room => Some((
            body.as_value()["n"].as_u64().expect("a numbered body"),
            offset.expect("a room that keeps history gives every message its offset"),
        )),
        _ => None,
    }
}

/// The next numbered message of `room` (other pushes skipped).
async fn next_numbered(client: &mut Client, room: &str) -> (u64, u64) {
    loop {
        let message = client.recv().await;
        if let Some(numbered) = numbered(&message, room) {
            return numbered;
        }
    }
}

async fn join(client: &mut Client, room: &str, since: Option<u64>) -> Option<bool> {
    let mut request = json!({"type": "room.join", "room": room});
    if let Some(since) = since {
        request["since"] = json!(since);
    }
    match client.request(request).await {
        ServerMessage::RoomJoined { recovered, .. } => recovered,
        other => panic!("{}: room.join: {other:?}", client.player),
    }
}

async fn send(client: &mut Client, room: &str, n: u64) {
    let reply = client
        .request(json!({"type": "room.send", "room": room, "body": {"n": n}}))
        .await;
    assert!(matches!(reply, ServerMessage::RoomSent { .. }), "{reply:?}");
}

#[tokio::test]
async fn a_member_back_on_another_gateway_with_since_gets_exactly_what_it_missed_in_order() {
    const TOTAL: u64 = 400;
    let ns = testkit::unique_namespace("history");
    let one = common::start(&ns, &ROOMS).await;
    let two = common::start(&ns, &ROOMS).await;
    let three = common::start(&ns, &ROOMS).await;

    let mut sender = Client::player(ws_addr(&one), "sender", Encoding::MsgPack).await;
    let mut watcher = Client::player(ws_addr(&three), "watcher", Encoding::Json).await;
    let mut mover = Client::player(ws_addr(&two), "mover", Encoding::MsgPack).await;
    for client in [&mut sender, &mut watcher, &mut mover] {
        assert_eq!(
            join(client, ROOM, None).await,
            None,
            "a plain join says nothing of recovery"
        );
    }

    // The sender keeps sending, a message every 3 ms, throughout.
    let sending = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(3));
        for n in 0..TOTAL {
            pace.tick().await;
            send(&mut sender, ROOM, n).await;
        }
        sender
    });

    // The mover reads the first 50, in order, offsets one apart, then its socket goes.
    let mut seen = Vec::new();
    while seen.len() < 50 {
        seen.push(next_numbered(&mut mover, ROOM).await);
    }
    let (last_n, last_offset) = *seen.last().expect("50 seen");
    mover.close().await;
    // The watcher on a third gateway sees the same messages with the same offsets.
    let mut watched = Vec::new();
    while watched.len() < seen.len() {
        watched.push(next_numbered(&mut watcher, ROOM).await);
    }
    assert_eq!(
        watched, seen,
        "every gateway gives a message the same offset"
    );

    // Back on another gateway (which rejoins the room, held), after more went by.
    let mut mover = Client::player(ws_addr(&three), "mover", Encoding::MsgPack).await;
    loop {
        let (n, _) = next_numbered(&mut watcher, ROOM).await;
        if n >= last_n + 40 {
            break;
        }
    }
    assert_eq!(
        join(&mut mover, ROOM, Some(last_offset)).await,
        Some(true),
        "the history reaches back to the last message seen"
    );
    let mut after = Vec::new();
    while after.last().is_none_or(|(n, _)| *n + 1 < TOTAL) {
        after.push(next_numbered(&mut mover, ROOM).await);
    }
    let expected: Vec<u64> = (last_n + 1..TOTAL).collect();
    let got: Vec<u64> = after.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        got, expected,
        "every message missed and every later one, once, in order"
    );
    let mut offsets = vec![last_offset];
    offsets.extend(after.iter().map(|(_, offset)| *offset));
    assert!(
        offsets.windows(2).all(|w| w[1] == w[0] + 1),
        "offsets grow by one per message: {offsets:?}"
    );
    // Nothing more: a ping's pong is the next thing.
    let pong = mover.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    assert!(
        mover
            .recv_within(Duration::from_millis(100))
            .await
            .is_none(),
        "no duplicate after the last message"
    );
    sending.await.expect("the sender finished");
}

#[tokio::test]
async fn history_pages_back_and_a_since_older_than_what_is_kept_is_not_recovered() {
    let ns = testkit::unique_namespace("history-short");
    let gateway = common::start(&ns, &ROOMS).await;
    let other = common::start(&ns, &ROOMS).await;
    let room = "short:r";
    let mut author = Client::player(ws_addr(&gateway), "author", Encoding::Json).await;
    join(&mut author, room, None).await;
    let mut offsets = Vec::new();
    for n in 0..8 {
        send(&mut author, room, n).await;
        let (got, offset) = next_numbered(&mut author, room).await;
        assert_eq!(got, n);
        offsets.push(offset);
    }

    // The newest five are kept, newest last; `before` pages back.
    let history = |request: Value| {
        let mut request = request;
        request["type"] = json!("room.history");
        request["room"] = json!(room);
        request
    };
    let kept = match author.request(history(json!({}))).await {
        ServerMessage::RoomHistory { messages, .. } => messages,
        other => panic!("{other:?}"),
    };
    let kept_n: Vec<u64> = kept
        .iter()
        .map(|m| m.body.as_value()["n"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(kept_n, vec![3, 4, 5, 6, 7]);
    assert_eq!(
        kept.iter().map(|m| m.offset).collect::<Vec<_>>(),
        offsets[3..].to_vec()
    );
    assert!(kept.iter().all(|m| m.from.as_str() == "author"));
    match author
        .request(history(json!({"before": offsets[5], "limit": 2})))
        .await
    {
        ServerMessage::RoomHistory { messages, .. } => {
            assert_eq!(
                messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
                vec![offsets[3], offsets[4]]
            );
        }
        other => panic!("{other:?}"),
    }

    // A plain join is told the room's latest offset (its `since` for later); in a room
    // without messages yet, the first one gets the next.
    let mut plain = Client::player(ws_addr(&other), "plain", Encoding::Json).await;
    match plain
        .request(json!({"type": "room.join", "room": room}))
        .await
    {
        ServerMessage::RoomJoined {
            offset, recovered, ..
        } => {
            assert_eq!((offset, recovered), (Some(offsets[7]), None));
        }
        other => panic!("{other:?}"),
    }
    let empty_offset = match plain
        .request(json!({"type": "room.join", "room": "short:empty"}))
        .await
    {
        ServerMessage::RoomJoined { offset, .. } => offset.expect("an offset for a new room"),
        other => panic!("{other:?}"),
    };
    send(&mut plain, "short:empty", 0).await;
    assert_eq!(
        next_numbered(&mut plain, "short:empty").await,
        (0, empty_offset + 1)
    );

    // A since older than the oldest kept: not recovered; what is kept follows.
    let mut late = Client::player(ws_addr(&other), "late", Encoding::MsgPack).await;
    assert_eq!(join(&mut late, room, Some(offsets[0])).await, Some(false));
    for n in 3..8 {
        assert_eq!(
            next_numbered(&mut late, room).await,
            (n, offsets[n as usize])
        );
    }
    // A since within what is kept: recovered, the rest follows; then live.
    let mut closer = Client::player(ws_addr(&other), "closer", Encoding::Json).await;
    assert_eq!(join(&mut closer, room, Some(offsets[4])).await, Some(true));
    for n in 5..8 {
        assert_eq!(
            next_numbered(&mut closer, room).await,
            (n, offsets[n as usize])
        );
    }
    send(&mut author, room, 8).await;
    assert_eq!(next_numbered(&mut closer, room).await, (8, offsets[7] + 1));
    assert_eq!(next_numbered(&mut late, room).await, (8, offsets[7] + 1));
    // Up to date: recovered, nothing to send.
    let mut current = Client::player(ws_addr(&gateway), "current", Encoding::Json).await;
    assert_eq!(
        join(&mut current, room, Some(offsets[7] + 1)).await,
        Some(true)
    );
    let pong = current.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    assert!(
        current
            .recv_within(Duration::from_millis(100))
            .await
            .is_none()
    );

    // A room without history: `since` is not recovered, messages carry no offset.
    assert_eq!(join(&mut current, "hall", Some(5)).await, Some(false));
    send(&mut current, "hall", 1).await;
    match current.recv().await {
        ServerMessage::RoomMessage { offset, .. } => assert_eq!(offset, None),
        other => panic!("{other:?}"),
    }
    match current
        .request(json!({"type": "room.history", "room": "hall"}))
        .await
    {
        ServerMessage::RoomHistory { messages, .. } => assert!(messages.is_empty()),
        other => panic!("{other:?}"),
    }

    // Only members read a history; a limit is 1..=100.
    let mut outsider = Client::player(ws_addr(&gateway), "outsider", Encoding::Json).await;
    let refused = outsider.request(history(json!({}))).await;
    assert_error(&refused, ErrorCode::BadRequest);
    for limit in [0, 101] {
        let refused = author.request(history(json!({"limit": limit}))).await;
        assert_error(&refused, ErrorCode::BadRequest);
    }
}
