//! The SDK against real gateways on the shared test cluster: replies matched to requests,
//! pushes as events, refusals, a replaced session, and a reconnect that resumes on
//! another gateway when the first one drains.

#[path = "../../../services/gateway/tests/common/mod.rs"]
mod gateway_common;

use std::time::Duration;

use gateway_common::ws_addr;
use rallypoint_client::proto::{ErrorCode, QueueState, ServerMessage};
use rallypoint_client::{Auth, Client, ClientConfig, ClientError, Event};
use serde_json::json;
use tokio::sync::mpsc;

fn url(gateway: &service_runtime::RunningService) -> String {
    format!("ws://{}/ws", ws_addr(gateway))
}

/// The next event that is not a `Disconnected` notice, within ten seconds.
async fn next(events: &mut mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the event stream is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_find_their_requests_and_pushes_arrive_as_events() {
    let ns = testkit::unique_namespace("sdk");
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let (ann, mut ann_events) =
        Client::connect(ClientConfig::new([url(&one)], Auth::Guest("ann".into())))
            .await
            .expect("ann connects");
    let (bob, mut bob_events) = Client::connect(
        ClientConfig::new(
            [url(&two)],
            Auth::Token(gateway_common::token(
                "bob",
                3600,
                gateway_common::JWT_SECRET,
            )),
        )
        .msgpack(),
    )
    .await
    .expect("bob connects");
    // A guest is player `guest:<name>`; a token's player is its subject.
    assert_eq!(ann.player(), Some("guest:ann"));
    assert_eq!(bob.player(), Some("bob"));

    // Many requests in flight at once: each gets its own reply.
    let pings = (0..32).map(|_| ann.ping());
    for pong in futures::future::join_all(pings).await {
        pong.expect("pong");
    }
    assert_eq!(ann.join_room("lobby").await.expect("joined"), 1);
    assert_eq!(bob.join_room("lobby").await.expect("joined"), 2);
    // Presence across the two gateways: the room's members, and who is online.
    assert_eq!(
        ann.all_room_members("lobby").await.expect("members"),
        vec!["bob".to_owned(), "guest:ann".to_owned()]
    );
    assert_eq!(
        bob.room_members("lobby", Some("bob"))
            .await
            .expect("a page"),
        (vec!["guest:ann".to_owned()], None),
        "the page after a cursor"
    );
    let online = bob
        .presence(&["guest:ann", "nobody-here"])
        .await
        .expect("presence");
    assert!(online["guest:ann"].online, "{online:?}");
    assert!(!online["nobody-here"].online, "{online:?}");
    ann.send_to_room("lobby", json!({"hello": "room"}))
        .await
        .expect("sent");
    match next(&mut bob_events).await {
        Event::Push(ServerMessage::RoomMessage { from, body, .. }) => {
            assert_eq!(from.as_str(), "guest:ann");
            assert_eq!(body.as_value(), &json!({"hello": "room"}));
        }
        other => panic!("expected room.message, got {other:?}"),
    }
    bob.whisper("guest:ann", json!("psst"))
        .await
        .expect("whispered");
    loop {
        match next(&mut ann_events).await {
            // Ann hears her own room message too.
            Event::Push(ServerMessage::RoomMessage { .. }) => {}
            Event::Push(ServerMessage::Whisper { from, body, .. }) => {
                assert_eq!((from.as_str(), body.as_value()), ("bob", &json!("psst")));
                break;
            }
            other => panic!("expected whisper, got {other:?}"),
        }
    }

    // An error reply is a typed error; the connection stays.
    ann.join_queue("duel", "eu").await.expect("queued");
    match ann.join_queue("duel", "eu").await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::AlreadyQueued),
        other => panic!("expected already_queued, got {other:?}"),
    }
    match ann.queue_status().await.expect("status") {
        ServerMessage::QueueStatus { state, .. } => assert_eq!(state, QueueState::Searching),
        other => panic!("{other:?}"),
    }
    match ann.whisper("nobody-here", json!(1)).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotOnline),
        other => panic!("expected not_online, got {other:?}"),
    }
    ann.close().await;
    assert!(matches!(ann.ping().await, Err(ClientError::Closed)));
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_gateway_sends_the_client_to_the_next_and_it_resumes_there() {
    let ns = testkit::unique_namespace("sdkmove");
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let mut config = ClientConfig::new([url(&one), url(&two)], Auth::Guest("mover".into()));
    config.reconnect_initial = Duration::from_millis(50);
    let (mover, mut events) = Client::connect(config).await.expect("connects");
    mover.join_room("hall").await.expect("joined");
    mover.join_queue("squad", "us").await.expect("queued");

    one.stop().await.expect("the first gateway drains");
    let mut disconnected = false;
    let status = loop {
        match next(&mut events).await {
            Event::Disconnected { .. } => disconnected = true,
            Event::Reconnected { status, welcome } => {
                match welcome {
                    ServerMessage::Welcome { gateway, .. } => {
                        assert_eq!(
                            gateway.as_str(),
                            two.instance_id,
                            "moved to the other gateway"
                        )
                    }
                    other => panic!("{other:?}"),
                }
                break status;
            }
            Event::Push(_) => {}
            Event::Closed { reason } => panic!("closed: {reason}"),
        }
    };
    assert!(disconnected, "the game is told it was disconnected");
    match status {
        Some(ServerMessage::QueueStatus { state, queue, .. }) => {
            assert_eq!(state, QueueState::Searching);
            assert_eq!(queue.map(|q| q.to_string()).as_deref(), Some("squad"));
        }
        other => panic!("expected the resumed queue status, got {other:?}"),
    }
    // The room came along: a message sent there reaches the moved client.
    let (other, _other_events) =
        Client::connect(ClientConfig::new([url(&two)], Auth::Guest("stayer".into())))
            .await
            .expect("connects");
    other.join_room("hall").await.expect("joined");
    other
        .send_to_room("hall", json!("welcome back"))
        .await
        .expect("sent");
    loop {
        match next(&mut events).await {
            Event::Push(ServerMessage::RoomMessage { body, .. }) => {
                assert_eq!(body.as_value(), &json!("welcome back"));
                break;
            }
            Event::Push(_) => {}
            other => panic!("{other:?}"),
        }
    }
    two.stop().await.expect("stops");
}

#[tokio::test]
async fn a_refused_token_and_a_replaced_session_are_final() {
    let ns = testkit::unique_namespace("sdkrefuse");
    let closed = gateway_common::start(&ns, &[("gateway.allow_guests", "false")]).await;
    match Client::connect(ClientConfig::new(
        [url(&closed)],
        Auth::Token("not-a-jwt".into()),
    ))
    .await
    {
        Err(ClientError::Refused { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected a refusal, got {other:?}"),
    }
    closed.stop().await.expect("stops");

    let open = gateway_common::start(&ns, &[]).await;
    let (_first, mut first_events) =
        Client::connect(ClientConfig::new([url(&open)], Auth::Guest("twin".into())))
            .await
            .expect("connects");
    let (second, _second_events) =
        Client::connect(ClientConfig::new([url(&open)], Auth::Guest("twin".into())))
            .await
            .expect("connects");
    loop {
        match next(&mut first_events).await {
            Event::Closed { reason } => {
                assert!(reason.contains("replaced"), "{reason}");
                break;
            }
            Event::Push(ServerMessage::Kicked { .. }) => {}
            other => panic!("expected the first session to close for good, got {other:?}"),
        }
    }
    second.ping().await.expect("the newer session works");
    open.stop().await.expect("stops");
}

/// A load generator spreads its sockets over loopback source addresses: the connection
/// must come from the configured one. A plain TCP listener shows the peer address (and,
/// as it speaks no WebSocket, the connect then fails cleanly).
#[tokio::test]
async fn connects_from_the_configured_local_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("address");
    let accepted = tokio::spawn(async move {
        let (socket, peer) = listener.accept().await.expect("accepts");
        drop(socket);
        peer
    });
    let mut config = ClientConfig::new([format!("ws://{address}/ws")], Auth::Guest("src".into()));
    config.local_address = Some("127.0.0.3".parse().expect("ip"));
    config.request_timeout = Duration::from_secs(5);
    let refused = Client::connect(config).await;
    assert!(
        matches!(refused, Err(ClientError::Connect(_))),
        "{refused:?}"
    );
    let peer = accepted.await.expect("accept task");
    assert_eq!(peer.ip().to_string(), "127.0.0.3");
}

/// The SDK has no TLS: a `wss://` URL is refused before any connection is made, so a
/// token is never sent in clear text to a port that expects TLS.
#[tokio::test]
async fn a_wss_url_is_refused_without_connecting() {
    let config = ClientConfig::new(
        ["wss://127.0.0.1:9/ws".to_owned()],
        Auth::Token("secret".into()),
    );
    match Client::connect(config).await {
        Err(ClientError::Connect(message)) => assert!(message.contains("TLS"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_is_made_with_the_sdk_and_its_changes_arrive_as_events() {
    let ns = testkit::unique_namespace("sdk-party");
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let connect = |gateway: &service_runtime::RunningService, player: &str| {
        let token = gateway_common::token(player, 3600, gateway_common::JWT_SECRET);
        Client::connect(ClientConfig::new([url(gateway)], Auth::Token(token)))
    };
    let (lead, mut lead_events) = connect(&one, "lead").await.expect("lead connects");
    let (mate, mut mate_events) = connect(&two, "mate").await.expect("mate connects");

    let party = match lead.create_party().await.expect("created") {
        ServerMessage::Party { party, .. } => party.to_string(),
        other => panic!("expected party, got {other:?}"),
    };
    assert_eq!(lead.invite_to_party("mate").await.expect("invited"), party);
    match next(&mut mate_events).await {
        Event::Push(ServerMessage::PartyInvite { party: p, from }) => {
            assert_eq!((p.as_str(), from.as_str()), (party.as_str(), "lead"));
        }
        other => panic!("expected party.invite, got {other:?}"),
    }
    mate.accept_party(&party).await.expect("joined");
    match next(&mut lead_events).await {
        Event::Push(ServerMessage::PartyUpdated { members, .. }) => {
            assert_eq!(
                members.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                ["lead", "mate"]
            );
        }
        other => panic!("expected party.updated, got {other:?}"),
    }
    match mate.kick_from_party("lead").await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotLeader),
        other => panic!("expected not_leader, got {other:?}"),
    }
    lead.promote_in_party("mate").await.expect("promoted");
    mate.leave_party().await.expect("left");
    match lead.party().await.expect("the party") {
        ServerMessage::Party {
            leader, members, ..
        } => {
            assert_eq!(leader.as_str(), "lead");
            assert_eq!(members.len(), 1);
        }
        other => panic!("expected party, got {other:?}"),
    }
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

/// In a room that keeps history, a client moved to another gateway by a drain rejoins
/// with `since` by itself: every message of the room reaches the game once, in order,
/// those sent while it was away included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_client_recovers_its_history_rooms_by_itself() {
    let ns = testkit::unique_namespace("sdk-recover");
    let rooms = [
        ("gateway.rooms.lobby.prefix", "lobby:"),
        ("gateway.rooms.lobby.history_len", "100"),
        ("gateway.rooms.lobby.history_ttl_ms", "60000"),
        ("gateway.chat_per_minute", "10000"),
    ];
    let one = gateway_common::start(&ns, &rooms).await;
    let two = gateway_common::start(&ns, &rooms).await;
    let mut config = ClientConfig::new([url(&one), url(&two)], Auth::Guest("reader".into()));
    config.reconnect_initial = Duration::from_millis(50);
    let (reader, mut events) = Client::connect(config).await.expect("connects");
    let (writer, _writer_events) =
        Client::connect(ClientConfig::new([url(&two)], Auth::Guest("writer".into())))
            .await
            .expect("connects");
    reader.join_room("lobby:sdk").await.expect("joined");
    writer.join_room("lobby:sdk").await.expect("joined");

    let mut seen: Vec<(u64, u64)> = Vec::new();
    let next_numbered = async |events: &mut mpsc::Receiver<Event>| loop {
        match next(events).await {
            Event::Push(ServerMessage::RoomMessage { body, offset, .. }) => {
                return Some((
                    body.as_value()["n"].as_u64().expect("numbered"),
                    offset.expect("an offset"),
                ));
            }
            Event::Reconnected { .. } | Event::Disconnected { .. } => return None,
            Event::Push(_) => {}
            Event::Closed { reason } => panic!("closed: {reason}"),
        }
    };
    for n in 0..5 {
        writer
            .send_to_room("lobby:sdk", json!({"n": n}))
            .await
            .expect("sent");
    }
    while seen.len() < 5 {
        if let Some(message) = next_numbered(&mut events).await {
            seen.push(message);
        }
    }
    // The reader's gateway drains; the writer keeps writing as soon as the reader is away.
    let stopping = tokio::spawn(async move { one.stop().await });
    while let Some(message) = next_numbered(&mut events).await {
        seen.push(message);
    }
    for n in 5..10 {
        writer
            .send_to_room("lobby:sdk", json!({"n": n}))
            .await
            .expect("sent");
    }
    while seen.len() < 10 {
        if let Some(message) = next_numbered(&mut events).await {
            seen.push(message);
        }
    }
    assert_eq!(
        seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>(),
        "every message once, in order"
    );
    assert!(seen.windows(2).all(|w| w[1].1 == w[0].1 + 1), "{seen:?}");
    stopping
        .await
        .expect("joined")
        .expect("the first gateway stops");
    two.stop().await.expect("stops");
}
