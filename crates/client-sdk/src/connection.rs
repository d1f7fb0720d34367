//! The task that owns the socket: writes requests, routes replies to their callers by
//! `rid`, hands pushes to the game as events, pings while idle, and reconnects (with
//! backoff, to the next gateway) when the connection drops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use proto::{ClientRequest, CloseCode, Encoding, Request, Rid, ServerMessage};
use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ClientConfig, ClientError, Command, Event};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Waiting = HashMap<Rid, oneshot::Sender<Result<ServerMessage, ClientError>>>;

/// Connects (trying every URL once), reads `welcome`, and spawns the connection task.
pub(crate) async fn start(
    config: Arc<ClientConfig>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) -> Result<ServerMessage, ClientError> {
    let mut last = ClientError::Connect("no gateway URL given".to_owned());
    for index in 0..config.urls.len() {
        match open(&config, index).await {
            Ok((socket, welcome)) => {
                let task = Task {
                    config,
                    url_index: index,
                    waiting: HashMap::new(),
                    events,
                    rooms: HashMap::new(),
                };
                tokio::spawn(task.run(socket, commands));
                return Ok(welcome);
            }
            // A refused identity (401, 403) is refused by every gateway; anything else (a
            // gateway not ready, 503) may be fine on the next one.
            Err(
                err @ ClientError::Refused {
                    status: 401 | 403, ..
                },
            ) => return Err(err),
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// Opens a socket to URL `index` and reads its `welcome`.
async fn open(config: &ClientConfig, index: usize) -> Result<(Socket, ServerMessage), ClientError> {
    let url = &config.urls[index];
    let (address, bearer) = match &config.auth {
        crate::Auth::Guest(player) => (with_query(url, &format!("guest={player}")), None),
        crate::Auth::Token(token) => (url.clone(), Some(token)),
    };
    let mut request = address
        .into_client_request()
        .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(config.encoding.subprotocol()),
    );
    if let Some(token) = bearer {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ClientError::Connect("the token is not a valid header value".into()))?;
        headers.insert("authorization", value);
    }
    let connect = connect_socket(config, request);
    let (mut socket, _) = match tokio::time::timeout(config.request_timeout, connect).await {
        Err(_) => return Err(ClientError::Connect(format!("{url}: timed out"))),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let message = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            return Err(ClientError::Refused { status, message });
        }
        Ok(Err(err)) => return Err(ClientError::Connect(format!("{url}: {err}"))),
        Ok(Ok(connected)) => connected,
    };
    let first = tokio::time::timeout(
        config.request_timeout,
        next_message(&mut socket, config.encoding),
    )
    .await;
    match first {
        Ok(Some(Incoming::Message(welcome @ ServerMessage::Welcome { .. }))) => {
            Ok((socket, welcome))
        }
        Ok(Some(Incoming::Message(other))) => Err(ClientError::Connect(format!(
            "{url}: expected welcome, got {}",
            other.type_name()
        ))),
        Ok(Some(Incoming::Closed(code, reason))) => Err(ClientError::Connect(format!(
            "{url}: closed before welcome ({code}: {reason})"
        ))),
        Ok(None) => Err(ClientError::Connect(format!(
            "{url}: closed before welcome"
        ))),
        Err(_) => Err(ClientError::Connect(format!("{url}: no welcome in time"))),
    }
}

/// Opens the TCP connection (from `config.local_address` when set, no Nagle delay: the
/// protocol is small request/reply frames) and does the WebSocket handshake on it.
async fn connect_socket(
    config: &ClientConfig,
    request: tungstenite::handshake::client::Request,
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    let uri = request.uri();
    if uri.scheme_str() == Some("wss") {
        // Never send a token in clear text to a port that expects TLS.
        return Err(tungstenite::Error::Url(
            tungstenite::error::UrlError::TlsFeatureNotEnabled,
        ));
    }
    let host = uri
        .host()
        .ok_or(tungstenite::Error::Url(
            tungstenite::error::UrlError::NoHostName,
        ))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for address in tokio::net::lookup_host((host.as_str(), port)).await? {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(local) = config.local_address
            && local.is_ipv4() == address.is_ipv4()
        {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        match socket.connect(address).await {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(err) => last = err,
        }
    }
    let stream = stream.ok_or(last)?;
    stream.set_nodelay(true)?;
    let ws_config = WebSocketConfig::default().read_buffer_size(config.read_buffer_bytes);
    tokio_tungstenite::client_async_with_config(
        request,
        MaybeTlsStream::Plain(stream),
        Some(ws_config),
    )
    .await
}

fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

/// One thing read off the socket.
enum Incoming {
    Message(ServerMessage),
    Closed(u16, String),
}

/// The next protocol message (frames that are not are skipped and logged).
async fn next_message(socket: &mut Socket, encoding: Encoding) -> Option<Incoming> {
    loop {
        let frame = match socket.next().await? {
            Ok(frame) => frame,
            Err(err) => {
                tracing::debug!(error = %err, "socket error");
                return None;
            }
        };
        let bytes = match frame {
            Message::Text(text) => bytes::Bytes::from(text),
            Message::Binary(bytes) => bytes,
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Some(Incoming::Closed(code, reason));
            }
            _ => continue,
        };
        match proto::decode_server(&bytes, encoding, proto::MAX_FRAME_BYTES) {
            Ok(message) => return Some(Incoming::Message(message)),
            Err(err) => {
                tracing::warn!(error = %err, "a frame from the gateway could not be decoded; skipped")
            }
        }
    }
}

/// Why a connection ended.
enum Ended {
    /// The game closed the client.
    Closed(oneshot::Sender<()>),
    /// The handle was dropped: nobody is left to serve.
    Abandoned,
    /// The session moved to another connection (4001): do not come back.
    Replaced,
    /// Lost, or asked to move: reconnect after `after` (if given by the gateway).
    Lost {
        reason: String,
        after: Option<Duration>,
    },
}

struct Task {
    config: Arc<ClientConfig>,
    url_index: usize,
    waiting: Waiting,
    events: mpsc::Sender<Event>,
    /// The rooms this client joined, with the offset of the last message seen in each
    /// (rooms that keep history): a reconnect joins them again with `since`.
    rooms: HashMap<proto::RoomId, Option<u64>>,
}

impl Task {
    async fn run(mut self, mut socket: Socket, mut commands: mpsc::Receiver<Command>) {
        loop {
            let ended = self.serve(&mut socket, &mut commands).await;
            self.fail_waiting();
            match ended {
                Ended::Closed(done) => {
                    let _ = socket.close(None).await;
                    self.emit(Event::Closed {
                        reason: "closed by the client".into(),
                    })
                    .await;
                    let _ = done.send(());
                    return;
                }
                Ended::Abandoned => {
                    let _ = socket.close(None).await;
                    return;
                }
                Ended::Replaced => {
                    self.emit(Event::Closed {
                        reason: "the session was replaced by a newer connection".into(),
                    })
                    .await;
                    return;
                }
                Ended::Lost { reason, after } => {
                    self.emit(Event::Disconnected { reason }).await;
                    match self.reconnect(after, &mut commands).await {
                        Some((new_socket, welcome)) => {
                            socket = new_socket;
                            let status = self.resume(&mut socket).await;
                            self.emit(Event::Reconnected { welcome, status }).await;
                        }
                        None => return,
                    }
                }
            }
        }
    }

    async fn emit(&self, event: Event) {
        // The game dropped its receiver: nothing to tell.
        let _ = self.events.send(event).await;
    }

    fn fail_waiting(&mut self) {
        for (_, waiter) in self.waiting.drain() {
            let _ = waiter.send(Err(ClientError::Disconnected));
        }
    }

    /// Serves one connection until it ends.
    async fn serve(
        &mut self,
        socket: &mut Socket,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Ended {
        let encoding = self.config.encoding;
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.tick().await;
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return Ended::Abandoned,
                    Some(Command::Close { done }) => return Ended::Closed(done),
                    Some(Command::Reconnect) => {
                        let _ = socket.close(None).await;
                        return Ended::Lost {
                            reason: "the game asked to reconnect".into(),
                            after: Some(Duration::ZERO),
                        };
                    }
                    Some(Command::Send { request, reply }) => {
                        self.note_rooms(&request.body);
                        if let Err(err) = self.send(socket, request, reply).await {
                            return Ended::Lost { reason: err, after: None };
                        }
                    }
                },
                incoming = next_message(socket, encoding) => match incoming {
                    None => return Ended::Lost { reason: "the connection dropped".into(), after: None },
                    Some(Incoming::Closed(code, reason)) => {
                        if code == CloseCode::SessionReplaced.code() {
                            return Ended::Replaced;
                        }
                        return Ended::Lost { reason: format!("closed by the gateway ({code}: {reason})"), after: None };
                    }
                    Some(Incoming::Message(ServerMessage::Reconnect { reason, after_ms })) => {
                        return Ended::Lost {
                            reason: format!("the gateway asked to reconnect ({reason})"),
                            after: Some(Duration::from_millis(after_ms)),
                        };
                    }
                    Some(Incoming::Message(message)) => self.deliver(message).await,
                },
                _ = ping.tick() => {
                    let frame = encode(&Request::new(ClientRequest::Ping), encoding);
                    if let Ok(frame) = frame
                        && socket.send(frame).await.is_err()
                    {
                        return Ended::Lost { reason: "the connection dropped".into(), after: None };
                    }
                }
            }
        }
    }

    async fn send(
        &mut self,
        socket: &mut Socket,
        request: Request,
        reply: oneshot::Sender<Result<ServerMessage, ClientError>>,
    ) -> Result<(), String> {
        let frame = match encode(&request, self.config.encoding) {
            Ok(frame) => frame,
            Err(err) => {
                let _ = reply.send(Err(err));
                return Ok(());
            }
        };
        if let Some(rid) = request.rid.clone() {
            self.waiting.insert(rid, reply);
        }
        socket
            .send(frame)
            .await
            .map_err(|e| format!("sending failed: {e}"))
    }

    /// A reply goes to its caller; anything else (a push, an unsolicited `pong`) to the game.
    /// Keeps track of the rooms the game joins and leaves.
    fn note_rooms(&mut self, request: &ClientRequest) {
        match request {
            ClientRequest::RoomJoin { room, .. } => {
                self.rooms.entry(room.clone()).or_insert(None);
            }
            ClientRequest::RoomLeave { room } => {
                self.rooms.remove(room);
            }
            _ => {}
        }
    }

    async fn deliver(&mut self, message: ServerMessage) {
        // The latest offset of each history room: a message's, or the join's.
        if let ServerMessage::RoomMessage {
            room,
            offset: Some(offset),
            ..
        }
        | ServerMessage::RoomJoined {
            room,
            offset: Some(offset),
            ..
        } = &message
            && let Some(seen) = self.rooms.get_mut(room)
        {
            *seen = Some(seen.map_or(*offset, |s| s.max(*offset)));
        }
        if let Some(rid) = message.rid()
            && let Some(waiter) = self.waiting.remove(rid)
        {
            let _ = waiter.send(Ok(message));
            return;
        }
        if matches!(message, ServerMessage::Pong { rid: None }) {
            return;
        }
        self.emit(Event::Push(message)).await;
    }

    /// Tries the gateways in turn, with backoff, until one answers; `None` when giving up
    /// (or the game closed the client meanwhile).
    async fn reconnect(
        &mut self,
        first_pause: Option<Duration>,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Option<(Socket, ServerMessage)> {
        let mut pause = first_pause.unwrap_or(self.config.reconnect_initial);
        let mut failures = 0_u32;
        loop {
            // Meanwhile, requests fail at once and a close is honoured.
            let deadline = tokio::time::sleep(pause);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    command = commands.recv() => match command {
                        None => return None,
                        Some(Command::Close { done }) => {
                            self.emit(Event::Closed { reason: "closed by the client".into() }).await;
                            let _ = done.send(());
                            return None;
                        }
                        Some(Command::Send { reply, .. }) => {
                            let _ = reply.send(Err(ClientError::Disconnected));
                        }
                        // Reconnecting already.
                        Some(Command::Reconnect) => {}
                    },
                }
            }
            self.url_index = (self.url_index + 1) % self.config.urls.len().max(1);
            match open(&self.config, self.url_index).await {
                Ok(connected) => return Some(connected),
                Err(err) => {
                    failures += 1;
                    tracing::debug!(error = %err, failures, "reconnect failed");
                    if self
                        .config
                        .reconnect_attempts
                        .is_some_and(|max| failures >= max)
                    {
                        self.emit(Event::Closed {
                            reason: format!("gave up reconnecting: {err}"),
                        })
                        .await;
                        return None;
                    }
                    pause = (pause.max(self.config.reconnect_initial) * 2)
                        .min(self.config.reconnect_max);
                }
            }
        }
    }

    /// After a reconnect: joins every room again, with `since` where a message with an
    /// offset was seen (the gateway rejoins the rooms itself, holding the ones that keep
    /// history for this: the messages missed follow each `room.joined`, in order, then
    /// the live ones; each `room.joined` reaches the game as a push, its `recovered`
    /// saying whether nothing was lost; without `since` the held messages just flow), then asks `queue.status` so the game knows where
    /// its ticket stands (the gateway re-sends a pending `match.found`). Pushes that
    /// arrive meanwhile are delivered as usual.
    async fn resume(&mut self, socket: &mut Socket) -> Option<ServerMessage> {
        let rejoin: Vec<(proto::RoomId, Option<u64>)> = self
            .rooms
            .iter()
            .map(|(room, seen)| (room.clone(), *seen))
            .collect();
        for (room, since) in rejoin {
            let request = Request::new(ClientRequest::RoomJoin { room, since });
            let frame = encode(&request, self.config.encoding).ok()?;
            socket.send(frame).await.ok()?;
        }
        let rid = Rid::Str("resume".into());
        let frame = encode(
            &Request::with_rid(ClientRequest::QueueStatus, rid.clone()),
            self.config.encoding,
        )
        .ok()?;
        socket.send(frame).await.ok()?;
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        loop {
            let next =
                tokio::time::timeout_at(deadline, next_message(socket, self.config.encoding)).await;
            match next {
                Ok(Some(Incoming::Message(message))) if message.rid() == Some(&rid) => {
                    return Some(message);
                }
                Ok(Some(Incoming::Message(message))) => self.deliver(message).await,
                _ => return None,
            }
        }
    }
}

fn encode(request: &Request, encoding: Encoding) -> Result<Message, ClientError> {
    let bytes =
        proto::encode_request(request, encoding).map_err(|e| ClientError::Encode(e.to_string()))?;
    Ok(if encoding.is_binary() {
        Message::Binary(bytes)
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Message::Text(text.into()),
            Err(e) => return Err(ClientError::Encode(e.to_string())),
        }
    })
}
