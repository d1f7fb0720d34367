//! The handshake: credentials (token in header or query, guests only where enabled),
//! encodings by subprotocol, and `welcome` first.

mod common;

use common::{Client, JWT_SECRET, open, token, ws_addr};
use proto::{Encoding, ServerMessage};

#[tokio::test]
async fn welcome_comes_first_in_either_encoding_and_the_subprotocol_is_echoed() {
    let ns = testkit::unique_namespace("welcome");
    let gateway = common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    for encoding in [Encoding::Json, Encoding::MsgPack] {
        let (_, protocol) = open(
            addr,
            "guest=echo",
            &[("sec-websocket-protocol", encoding.subprotocol())],
        )
        .await
        .expect("accepted");
        assert_eq!(protocol.as_deref(), Some(encoding.subprotocol()));
        let client = Client::player(addr, &format!("p-{encoding:?}"), encoding).await;
        match &client.welcome {
            ServerMessage::Welcome {
                player,
                session,
                gateway: gw,
                heartbeat_ms,
            } => {
                assert_eq!(player.as_str(), client.player);
                assert!(!session.as_str().is_empty());
                assert_eq!(gw.as_str(), gateway.instance_id);
                assert_eq!(*heartbeat_ms, 500);
            }
            other => panic!("{other:?}"),
        }
    }
    // No subprotocol named: JSON, and none echoed.
    let (_, protocol) = open(addr, "guest=plain", &[]).await.expect("accepted");
    assert_eq!(protocol, None);
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn tokens_are_accepted_in_the_header_or_the_query() {
    let ns = testkit::unique_namespace("tokens");
    let gateway = common::start(&ns, &[("gateway.allow_guests", "false")]).await;
    let addr = ws_addr(&gateway);
    let t = token("alice", 60, JWT_SECRET);
    let by_query = Client::connect(addr, &format!("token={t}"), "alice", Encoding::Json).await;
    assert!(
        matches!(&by_query.welcome, ServerMessage::Welcome { player, .. } if player.as_str() == "alice")
    );
    let (_, _) = open(addr, "", &[("authorization", &format!("Bearer {t}"))])
        .await
        .expect("a header token is accepted");
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn refused_upgrades_get_401_or_400_with_a_json_body() {
    let ns = testkit::unique_namespace("refused");
    let gateway = common::start(&ns, &[("gateway.allow_guests", "false")]).await;
    let addr = ws_addr(&gateway);
    let expired = token("bob", -600, JWT_SECRET);
    let forged = token("bob", 60, "not-the-deployment-secret");
    struct Case {
        what: &'static str,
        query: String,
        header: Option<(&'static str, String)>,
        status: u16,
        error: &'static str,
    }
    let case = |what, query: String, header, status, error| Case {
        what,
        query,
        header,
        status,
        error,
    };
    let cases = [
        case("no credentials", String::new(), None, 401, "unauthorized"),
        case(
            "expired token",
            format!("token={expired}"),
            None,
            401,
            "unauthorized",
        ),
        case(
            "forged token",
            format!("token={forged}"),
            None,
            401,
            "unauthorized",
        ),
        case(
            "garbage token",
            "token=abc.def.ghi".into(),
            None,
            401,
            "unauthorized",
        ),
        case(
            "bad header token",
            String::new(),
            Some(("authorization", "Bearer nope".to_owned())),
            401,
            "unauthorized",
        ),
        case(
            "guest when guests are off",
            "guest=bob".into(),
            None,
            401,
            "unauthorized",
        ),
        case(
            "unknown subprotocol",
            format!("token={}", token("bob", 60, JWT_SECRET)),
            Some(("sec-websocket-protocol", "chat.v9".to_owned())),
            400,
            "bad_request",
        ),
    ];
    for Case {
        what,
        query,
        header,
        status,
        error,
    } in cases
    {
        let headers: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = open(addr, &query, &headers)
            .await
            .expect_err(&format!("{what}: must be refused"));
        assert_eq!(refused.status, status, "{what}: {:?}", refused.body);
        assert_eq!(refused.body["error"], error, "{what}: {:?}", refused.body);
        assert!(
            refused.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: says why"
        );
    }
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn half_open_handshakes_are_closed_at_the_deadline_while_honest_clients_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const HALF_OPEN: usize = 400;
    let ns = testkit::unique_namespace("slowloris");
    let gateway = common::start(&ns, &[("gateway.handshake_timeout_ms", "500")]).await;
    let addr = ws_addr(&gateway);
    // Half of them send nothing, half an upgrade request cut off before its end.
    let mut sockets = Vec::with_capacity(HALF_OPEN);
    for i in 0..HALF_OPEN {
        let mut socket = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        if i % 2 == 1 {
            socket
                .write_all(
                    b"GET /ws?guest=slow HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n",
                )
                .await
                .expect("writes");
        }
        sockets.push(socket);
    }
    // Meanwhile an honest client connects and is served.
    let mut honest = Client::player(addr, "honest", Encoding::Json).await;
    let pong = honest
        .request(serde_json::json!({"type": "ping", "rid": 1}))
        .await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    // Every half-open socket is closed by the gateway (EOF), none kept for ever.
    let closed = futures::future::join_all(sockets.into_iter().map(|mut socket| async move {
        let mut buf = [0_u8; 512];
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }))
    .await;
    let still_open = |silent: usize| {
        closed
            .iter()
            .enumerate()
            .filter(|(i, closed)| i % 2 == silent && !**closed)
            .count()
    };
    assert_eq!(
        (still_open(0), still_open(1)),
        (0, 0),
        "half-open sockets still open (of {HALF_OPEN}): (sending nothing, a partial request)"
    );
    honest.close().await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn past_the_connection_cap_an_upgrade_gets_503_and_those_held_are_served() {
    let ns = testkit::unique_namespace("cap");
    let gateway = common::start(&ns, &[("gateway.max_connections", "2")]).await;
    let addr = ws_addr(&gateway);
    let mut first = Client::player(addr, "cap-1", Encoding::Json).await;
    let second = Client::player(addr, "cap-2", Encoding::Json).await;
    let refused = open(addr, "guest=cap-3", &[])
        .await
        .expect_err("a third socket is refused");
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "unavailable");
    let pong = first
        .request(serde_json::json!({"type": "ping", "rid": 1}))
        .await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    // A closed connection gives its place back.
    second.close().await;
    testkit::wait_until(
        "a freed place under the cap",
        std::time::Duration::from_secs(10),
        || async { open(addr, "guest=cap-3", &[]).await.ok().map(|_| ()) },
    )
    .await
    .expect("in time");
    first.close().await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn an_address_past_its_connect_rate_gets_429_while_others_are_served() {
    let ns = testkit::unique_namespace("connect-rate");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.connects_per_ip_per_second", "0.01"),
            ("gateway.connects_per_ip_burst", "2"),
            ("gateway.client_ip_header", "x-forwarded-for"),
        ],
    )
    .await;
    let addr = ws_addr(&gateway);
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let (_one, _) = open(addr, "guest=rate-1", &from("10.1.1.1"))
        .await
        .expect("first");
    let (_two, _) = open(addr, "guest=rate-2", &from("10.1.1.1"))
        .await
        .expect("second");
    let refused = open(addr, "guest=rate-3", &from("10.1.1.1"))
        .await
        .expect_err("a third connect from 10.1.1.1 within its burst is refused");
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "rate_limited");
    // Another address is not held back, and is served.
    let mut other = Client::connect_with_headers(
        addr,
        "guest=rate-4",
        "rate-4",
        Encoding::Json,
        &from("10.1.1.2"),
    )
    .await;
    let pong = other
        .request(serde_json::json!({"type": "ping", "rid": 1}))
        .await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    other.close().await;
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn a_guest_cannot_act_as_the_token_player_of_the_same_name() {
    let ns = testkit::unique_namespace("guest-namespace");
    let gateway = common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let mut player = Client::player(addr, "alice", Encoding::Json).await;
    let mut guest = Client::guest(addr, "alice", Encoding::Json).await;
    // Two players: the guest did not replace the token player's session ...
    match &guest.welcome {
        ServerMessage::Welcome { player: id, .. } => assert_eq!(id.as_str(), "guest:alice"),
        other => panic!("{other:?}"),
    }
    let pong = player.request(serde_json::json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    // ... and a whisper to `alice` reaches the token player, never the guest.
    let mut sender = Client::player(addr, "sender", Encoding::Json).await;
    let sent = sender
        .request(serde_json::json!({"type": "whisper", "to": "alice", "body": "for alice"}))
        .await;
    assert!(
        matches!(sent, ServerMessage::WhisperSent { .. }),
        "{sent:?}"
    );
    match player.recv().await {
        ServerMessage::Whisper { from, body, .. } => {
            assert_eq!(from.as_str(), "sender");
            assert_eq!(body.as_value(), &serde_json::json!("for alice"));
        }
        other => panic!("{other:?}"),
    }
    let sent = sender
        .request(
            serde_json::json!({"type": "whisper", "to": "guest:alice", "body": "for the guest"}),
        )
        .await;
    assert!(
        matches!(sent, ServerMessage::WhisperSent { .. }),
        "{sent:?}"
    );
    match guest.recv().await {
        ServerMessage::Whisper { body, .. } => {
            assert_eq!(body.as_value(), &serde_json::json!("for the guest"));
        }
        other => panic!("the guest got {other:?}"),
    }
    // A token may not name a guest.
    let refused = open(
        addr,
        &format!("token={}", token("guest:alice", 60, JWT_SECRET)),
        &[],
    )
    .await
    .expect_err("a token with a guest subject is refused");
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "unauthorized");
    gateway.stop().await.expect("stops");
}

/// Opens a socket to `addr`, writes `prefix` (a PROXY header), then upgrades to
/// WebSocket as `player`; the HTTP status if refused, or the socket closed before an
/// answer (`None`).
async fn through_proxy(addr: std::net::SocketAddr, prefix: &[u8], player: &str) -> Option<u16> {
    use tokio::io::AsyncWriteExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream.write_all(prefix).await.expect("writes");
    let request = format!("ws://{addr}/ws?{}", common::player_query(player))
        .into_client_request()
        .expect("a request");
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((mut socket, response)) => {
            // Served: welcome first.
            use futures::StreamExt as _;
            let first = socket.next().await;
            assert!(matches!(first, Some(Ok(_))), "{first:?}");
            Some(response.status().as_u16())
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        Err(_) => None,
    }
}

#[tokio::test]
async fn behind_a_proxy_the_header_names_the_client_and_nothing_else_gets_in() {
    let ns = testkit::unique_namespace("proxy-protocol");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.proxy_protocol", "true"),
            ("gateway.trusted_proxies", "127.0.0.0/8"),
            ("gateway.connects_per_ip_per_second", "0.01"),
            ("gateway.connects_per_ip_burst", "1"),
        ],
    )
    .await;
    let addr = ws_addr(&gateway);
    // Each client is the one its header names: one connect each within the burst.
    let from = |ip: &str| format!("PROXY TCP4 {ip} 127.0.0.1 50000 8080\r\n").into_bytes();
    assert_eq!(
        through_proxy(addr, &from("198.51.100.1"), "pa").await,
        Some(101)
    );
    assert_eq!(
        through_proxy(addr, &from("198.51.100.2"), "pb").await,
        Some(101)
    );
    assert_eq!(
        through_proxy(addr, &from("198.51.100.1"), "pc").await,
        Some(429),
        "198.51.100.1 spent its burst"
    );
    // No header: closed without an answer.
    assert_eq!(through_proxy(addr, b"", "pd").await, None);
    gateway.stop().await.expect("stops");

    // A peer outside trusted_proxies is closed, header or not.
    let ns = testkit::unique_namespace("proxy-untrusted");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.proxy_protocol", "true"),
            ("gateway.trusted_proxies", "10.0.0.0/8"),
        ],
    )
    .await;
    let addr = ws_addr(&gateway);
    assert_eq!(through_proxy(addr, &from("198.51.100.3"), "pe").await, None);
    gateway.stop().await.expect("stops");
}
