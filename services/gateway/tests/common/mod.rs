//! Shared set-up of the gateway's tests: gateways started in-process against the shared
//! test cluster (each test in its own namespace), and a small WebSocket client speaking
//! the protocol in either encoding.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gateway::Gateway;
use proto::{Encoding, ServerMessage};
use serde_json::{Value, json};
use service_runtime::{LoadedConfig, RunningService, Service};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const JWT_SECRET: &str = "gateway-test-secret-0123456789";

/// How long a test waits for any one frame.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(10);

/// A gateway config for namespace `ns`, with `overrides` (`("gateway.allow_guests",
/// "false")`) on top of quick test timings.
pub fn config(ns: &str, overrides: &[(&str, &str)]) -> LoadedConfig {
    LoadedConfig::load_with_env(
        Gateway::DEFAULTS,
        None,
        Some(env_for(ns, overrides).into_iter().collect()),
    )
    .expect("a valid test config")
}

/// The environment of a test gateway: quick timings, namespace `ns`, `overrides`.
fn env_for(ns: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    testkit::service_env(
        ns,
        &[
            ("gateway.listen", "127.0.0.1:0"),
            ("gateway.jwt_secret", JWT_SECRET),
            ("gateway.allow_guests", "true"),
            ("instance.environment", "development"),
            ("gateway.heartbeat_ms", "500"),
            ("gateway.session_ttl_ms", "3000"),
            ("gateway.idle_timeout_ms", "20000"),
            ("gateway.drain_grace_ms", "1500"),
            ("gateway.reconnect_spread_ms", "100"),
            ("shutdown.drain_deadline_ms", "8000"),
            // No cache-warmer runs in these tests: players play at the default rating.
            // The cache-warmer's own tests cover required profiles.
            ("matchmaking.profiles", "optional"),
        ],
        overrides,
    )
}

/// Starts a gateway in-process and waits until it reports ready (connected to Redis).
pub async fn start(ns: &str, overrides: &[(&str, &str)]) -> RunningService {
    let gateway = service_runtime::start::<Gateway>(config(ns, overrides))
        .await
        .expect("the gateway starts");
    wait_ready(&gateway.ops_addr).await;
    gateway
}

/// Waits (bounded) until the gateway whose ops endpoint is `ops` answers ready.
pub async fn wait_ready(ops: impl std::fmt::Display) {
    let ready = format!("http://{ops}/health/ready");
    testkit::wait_until(
        "the gateway to be ready",
        Duration::from_secs(20),
        || async {
            let response = reqwest::get(&ready).await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await
    .expect("ready");
}

/// The gateway's client address.
pub fn ws_addr(gateway: &RunningService) -> SocketAddr {
    gateway
        .endpoint("ws")
        .expect("the gateway has a ws endpoint")
}

/// The real `rallypoint-gateway` binary as a child process (for tests that SIGKILL it).
#[derive(Debug)]
pub struct GatewayProcess {
    pub ws: SocketAddr,
    pub process: testkit::ServiceChild,
}

impl GatewayProcess {
    /// Starts the binary with the same settings as [`config`] and waits until it
    /// reports ready (connected to Redis).
    pub async fn start(ns: &str, overrides: &[(&str, &str)]) -> GatewayProcess {
        // Cargo names the binary for the gateway's own tests; other crates that include this
        // module find it beside their test executable (`make test` builds every binary).
        let binary = option_env!("CARGO_BIN_EXE_rallypoint-gateway")
            .map(std::path::PathBuf::from)
            .or_else(|| testkit::binary_beside_test("gateway"))
            .expect("the gateway binary's path");
        let process = testkit::ServiceChild::start(&binary, &env_for(ns, overrides))
            .await
            .expect("the gateway binary starts");
        let ws = process
            .endpoints
            .get("ws")
            .and_then(|a| a.parse().ok())
            .expect("a `listening` line for the ws endpoint");
        wait_ready(&process.ops).await;
        GatewayProcess { ws, process }
    }

    /// SIGKILL: no drain, no cleanup.
    pub async fn kill(self) {
        self.process.kill().await;
    }
}

/// The query string that signs in as `player` (a token from the test secret, an hour).
pub fn player_query(player: &str) -> String {
    format!("token={}", token(player, 3600, JWT_SECRET))
}

/// `client` still gets answers: a `ping` gets its `pong`.
pub async fn still_served(client: &mut Client) {
    let reply = client.request(json!({"type": "ping"})).await;
    assert!(matches!(reply, ServerMessage::Pong { .. }), "{reply:?}");
}

/// A signed JWT for `player`, valid for `valid_for_s` seconds (negative: expired).
pub fn token(player: &str, valid_for_s: i64, secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": player, "exp": now + valid_for_s}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encodes a token")
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A refused upgrade: the HTTP status and the JSON body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
    /// The `Retry-After` header, in seconds, if any.
    pub retry_after: Option<u64>,
}

/// A protocol client.
pub struct Client {
    pub player: String,
    pub encoding: Encoding,
    socket: Socket,
    pub welcome: ServerMessage,
    /// Pushes that arrived while waiting for a reply, handed out by `recv` first.
    pending: std::collections::VecDeque<ServerMessage>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("player", &self.player)
            .finish()
    }
}

/// Opens a socket to `/ws?<query>` with optional headers, without reading anything.
pub async fn open(
    addr: SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, Option<String>), Refused> {
    let mut request = format!("ws://{addr}/ws?{query}")
        .into_client_request()
        .expect("a request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, response)) => {
            let protocol = response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((socket, protocol))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err(Refused {
                status,
                body,
                retry_after,
            })
        }
        Err(err) => panic!("cannot connect to {addr}: {err}"),
    }
}

impl Client {
    /// Connects as `player` (a token) over a socket with a tiny receive buffer, for a
    /// client that stops reading; does not read `welcome`.
    pub async fn player_with_small_buffer(addr: SocketAddr, player: &str) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("a small buffer");
        let stream = socket.connect(addr).await.expect("connected");
        let request = format!("ws://{addr}/ws?{}", player_query(player))
            .into_client_request()
            .expect("a request");
        let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("upgraded");
        Client {
            player: player.to_owned(),
            encoding: Encoding::Json,
            socket,
            welcome: ServerMessage::Pong { rid: None },
            pending: std::collections::VecDeque::new(),
        }
    }

    /// Connects as player `player` (with a token signed by the test secret) in
    /// `encoding` and reads `welcome`.
    pub async fn player(addr: SocketAddr, player: &str, encoding: Encoding) -> Client {
        Self::connect(addr, &player_query(player), player, encoding).await
    }

    /// Connects as guest `name` (player `guest:<name>`) in `encoding` and reads
    /// `welcome`.
    pub async fn guest(addr: SocketAddr, name: &str, encoding: Encoding) -> Client {
        let player = format!("guest:{name}");
        Self::connect(addr, &format!("guest={name}"), &player, encoding).await
    }

    /// Connects with `query` and reads `welcome`.
    pub async fn connect(
        addr: SocketAddr,
        query: &str,
        player: &str,
        encoding: Encoding,
    ) -> Client {
        Self::connect_with_headers(addr, query, player, encoding, &[]).await
    }

    /// [`Client::connect`] with more request headers.
    pub async fn connect_with_headers(
        addr: SocketAddr,
        query: &str,
        player: &str,
        encoding: Encoding,
        headers: &[(&str, &str)],
    ) -> Client {
        let protocol = encoding.subprotocol();
        let mut all = vec![("sec-websocket-protocol", protocol)];
        all.extend_from_slice(headers);
        let (socket, _) = open(addr, query, &all)
            .await
            .expect("the upgrade is accepted");
        let mut client = Client {
            player: player.to_owned(),
            encoding,
            socket,
            welcome: ServerMessage::Pong { rid: None },
            pending: std::collections::VecDeque::new(),
        };
        let welcome = client.recv().await;
        assert!(
            matches!(welcome, ServerMessage::Welcome { .. }),
            "the first frame is welcome, got {welcome:?}"
        );
        client.welcome = welcome;
        client
    }

    /// The session id from `welcome`.
    pub fn session(&self) -> String {
        match &self.welcome {
            ServerMessage::Welcome { session, .. } => session.to_string(),
            _ => String::new(),
        }
    }

    /// Sends a request given as JSON, in the client's encoding.
    pub async fn send(&mut self, request: Value) {
        let frame = match self.encoding {
            Encoding::Json => Message::text(request.to_string()),
            Encoding::MsgPack => {
                Message::binary(rmp_serde::to_vec_named(&request).expect("encodes as MessagePack"))
            }
        };
        self.socket.send(frame).await.expect("the frame is sent");
    }

    /// Sends raw bytes as a frame of the client's encoding's kind.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let frame = match self.encoding {
            Encoding::Json => Message::text(String::from_utf8_lossy(&bytes).into_owned()),
            Encoding::MsgPack => Message::binary(bytes),
        };
        self.socket.send(frame).await.expect("the frame is sent");
    }

    /// The next message (pings and pongs skipped). Panics on close or after the deadline.
    pub async fn recv(&mut self) -> ServerMessage {
        if let Some(message) = self.pending.pop_front() {
            return message;
        }
        self.read().await
    }

    /// The next message if one arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<ServerMessage> {
        if let Some(message) = self.pending.pop_front() {
            return Some(message);
        }
        tokio::time::timeout(wait, self.read()).await.ok()
    }

    async fn read(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(FRAME_DEADLINE, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no frame within {FRAME_DEADLINE:?}", self.player))
                .unwrap_or_else(|| panic!("{}: the socket ended", self.player))
                .unwrap_or_else(|e| panic!("{}: read failed: {e}", self.player));
            let data = match frame {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(data) => data.to_vec(),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(close) => panic!("{}: closed: {close:?}", self.player),
            };
            return proto::decode_server(&data, self.encoding, usize::MAX)
                .unwrap_or_else(|e| panic!("{}: undecodable frame: {e}", self.player));
        }
    }

    /// Sends `request` with `rid` and returns the reply carrying it; pushes that arrive
    /// first are kept for `recv`.
    pub async fn request(&mut self, mut request: Value) -> ServerMessage {
        let rid = fastrand::u32(..);
        request["rid"] = json!(rid);
        self.send(request).await;
        loop {
            let message = self.read().await;
            if message.rid() == Some(&proto::Rid::Int(i64::from(rid))) {
                return message;
            }
            if message.rid().is_none() && !matches!(message, ServerMessage::Error { .. }) {
                self.pending.push_back(message);
                continue;
            }
            panic!(
                "{}: expected the reply to rid {rid}, got {message:?}",
                self.player
            );
        }
    }

    /// Reads until the server closes; the close code (`None`: closed without one).
    /// Messages before the close are returned too.
    pub async fn until_closed(&mut self) -> (Vec<ServerMessage>, Option<u16>) {
        let mut before: Vec<ServerMessage> = self.pending.drain(..).collect();
        loop {
            let frame = tokio::time::timeout(FRAME_DEADLINE, self.socket.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("{}: not closed within {FRAME_DEADLINE:?}", self.player)
                });
            match frame {
                None => return (before, None),
                Some(Err(err)) => {
                    eprintln!("{}: read failed: {err}", self.player);
                    return (before, None);
                }
                Some(Ok(Message::Close(close))) => {
                    return (before, close.map(|c| u16::from(c.code)));
                }
                Some(Ok(Message::Text(text))) => before.push(
                    proto::decode_server(text.as_bytes(), self.encoding, usize::MAX)
                        .expect("decodes"),
                ),
                Some(Ok(Message::Binary(data))) => before
                    .push(proto::decode_server(&data, self.encoding, usize::MAX).expect("decodes")),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _already_closed_is_fine = self.socket.close(None).await;
    }
}

/// `leader` forms a party with `mates` (invite, accept) and the party id.
pub async fn form_party(leader: &mut Client, mates: &mut [Client]) -> String {
    let party = match leader.request(json!({"type": "party.create"})).await {
        ServerMessage::Party { party, .. } => party.to_string(),
        other => panic!("expected party, got {other:?}"),
    };
    for mate in mates.iter_mut() {
        let invited = leader
            .request(json!({"type": "party.invite", "to": mate.player}))
            .await;
        assert!(
            matches!(invited, ServerMessage::PartyInvited { .. }),
            "{invited:?}"
        );
        let accepted = mate
            .request(json!({"type": "party.accept", "party": party}))
            .await;
        assert!(
            matches!(accepted, ServerMessage::Party { .. }),
            "{accepted:?}"
        );
    }
    party
}

/// Asserts that `message` is an `error` with `code`.
pub fn assert_error(message: &ServerMessage, code: proto::ErrorCode) {
    match message {
        ServerMessage::Error { code: got, .. } => assert_eq!(*got, code, "{message:?}"),
        other => panic!("expected error {code}, got {other:?}"),
    }
}

/// A command connection to the test cluster, for looking at what the gateway wrote.
pub async fn redis() -> fred::prelude::Client {
    use fred::prelude::ClientLike;
    let config = config(&testkit::unique_namespace("probe"), &[]);
    let client = service_runtime::redis::build_client(&config.common.redis).expect("client");
    client.wait_for_connect().await.expect("connected");
    client
}

/// A key's TTL in Redis, in ms (-2: no such key, -1: no TTL).
pub async fn pttl(redis: &fred::prelude::Client, key: &str) -> i64 {
    use fred::prelude::KeysInterface;
    redis.pttl(key).await.expect("pttl")
}

/// Waits (bounded) until `key`'s TTL has been pushed forward `times` times: how a test
/// sees the gateway's heartbeat refresh a player's keys (polled, as `testkit::wait_until`
/// polls: the refresh sends nothing to wait on).
pub async fn ttl_pushed(redis: &fred::prelude::Client, key: &str, times: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut last = pttl(redis, key).await;
    let mut pushed = 0;
    while pushed < times {
        assert!(
            std::time::Instant::now() < deadline,
            "{key}'s TTL was pushed forward {pushed} times, not {times}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = pttl(redis, key).await;
        if now > last {
            pushed += 1;
        }
        last = now;
    }
}
