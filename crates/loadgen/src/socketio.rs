//! A minimal Socket.IO client (Engine.IO v4 over WebSocket only, the default JSON parser),
//! so the same load generator drives the peer `make bench-peer` compares Rallypoint with
//! (`bench/peer/server.js`) and the measured work on the client side is the same.
//!
//! It speaks just what the benchmark needs: the handshake (`0{..}` from the server, then
//! `40{"player":..}` to connect to the main namespace with an auth payload), events with
//! acknowledgements (`42<id>["join",room]` answered by `43<id>[{..}]`), pushed events
//! (`42["msg",{room,from,body,ts}]`, handed on as a `room.message` push so the scenarios
//! read both protocols alike), and the server's heartbeat (`2`, answered `3`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rallypoint_client::proto::{self, ServerMessage};
use rallypoint_client::{ClientError, Event};
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;
type Ack = oneshot::Sender<Result<Value, ClientError>>;

/// What the handle asks of the connection task.
enum Command {
    /// Emit `[name, arg]` with an acknowledgement.
    Emit {
        packet: Value,
        ack: Ack,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// A connected Socket.IO client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    timeout: Duration,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Emit { .. } => "Emit",
            Command::Close { .. } => "Close",
        })
    }
}

impl Client {
    /// Connects to `url` (`ws://host:port/socket.io/?EIO=4&transport=websocket`) as
    /// `player`, from `local` when given; pushes arrive on the returned receiver.
    pub async fn connect(
        url: &str,
        player: &str,
        local: Option<IpAddr>,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        let mut socket = open(url, local)
            .await
            .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
        // The Engine.IO open packet, then the namespace connect with our auth payload.
        match next_text(&mut socket).await {
            Some(open) if open.starts_with('0') => {}
            other => {
                return Err(ClientError::Connect(format!(
                    "expected an Engine.IO open packet, got {other:?}"
                )));
            }
        }
        let auth = serde_json::json!({ "player": player });
        send_text(&mut socket, format!("40{auth}"))
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        loop {
            match next_text(&mut socket).await {
                Some(text) if text.starts_with("40") => break,
                Some(text) if text == "2" => send_text(&mut socket, "3".to_owned())
                    .await
                    .map_err(|e| ClientError::Connect(e.to_string()))?,
                Some(text) if text.starts_with("44") => {
                    return Err(ClientError::Refused {
                        status: 0,
                        message: text[2..].to_owned(),
                    });
                }
                other => {
                    return Err(ClientError::Connect(format!(
                        "expected the namespace connect, got {other:?}"
                    )));
                }
            }
        }
        let (commands, requests) = mpsc::channel(64);
        let (events_tx, events) = mpsc::channel(1024);
        tokio::spawn(run(socket, requests, events_tx));
        Ok((
            Self {
                commands,
                timeout: Duration::from_secs(10),
            },
            events,
        ))
    }

    /// Emits event `name` (with `arg`, if any) and waits for its acknowledgement.
    async fn emit(&self, name: &str, arg: Option<Value>) -> Result<Value, ClientError> {
        let (ack, answer) = oneshot::channel();
        let packet = Value::Array(
            std::iter::once(Value::String(name.to_owned()))
                .chain(arg)
                .collect(),
        );
        self.commands
            .send(Command::Emit { packet, ack })
            .await
            .map_err(|_| ClientError::Closed)?;
        let answer = tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
            .map_err(|_| ClientError::Disconnected)??;
        match answer.get("error").and_then(Value::as_str) {
            Some(error) => Err(ClientError::Server {
                code: proto::ErrorCode::BadRequest,
                message: error.to_owned(),
            }),
            None => Ok(answer),
        }
    }

    /// Joins `room`. The peer does not count members (that is a cluster-wide query in
    /// Socket.IO); 0 is returned.
    pub async fn join_room(&self, room: &str) -> Result<u32, ClientError> {
        self.emit("join", Some(Value::String(room.to_owned())))
            .await
            .map(|_| 0)
    }

    pub async fn send_to_room(&self, room: &str, body: Value) -> Result<(), ClientError> {
        self.emit(
            "send",
            Some(serde_json::json!({ "room": room, "body": body })),
        )
        .await
        .map(|_| ())
    }

    /// A round trip through the server (`alive`, acknowledged by a live connection).
    pub async fn ping(&self) -> Result<(), ClientError> {
        self.emit("alive", None).await.map(|_| ())
    }

    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close { done }).await.is_ok() {
            let _ = closed.await;
        }
    }
}

async fn open(url: &str, local: Option<IpAddr>) -> Result<Socket, anyhow::Error> {
    let without_scheme = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow::anyhow!("only ws:// URLs are supported"))?;
    let authority = without_scheme.split('/').next().unwrap_or_default();
    let address: SocketAddr = tokio::net::lookup_host(authority)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{authority} resolves to nothing"))?;
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = local
        && local.is_ipv4() == address.is_ipv4()
    {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    let stream = socket.connect(address).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(crate::clients::READ_BUFFER_BYTES);
    let (socket, _response) = tokio_tungstenite::client_async_with_config(
        url,
        MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await?;
    Ok(socket)
}

async fn send_text(socket: &mut Socket, text: String) -> Result<(), ClientError> {
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| ClientError::Disconnected)
}

/// The next text frame (`None` once the socket is closed or broken).
async fn next_text(socket: &mut Socket) -> Option<String> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The connection task: writes emits, matches acks, hands pushes on, answers pings.
async fn run(
    mut socket: Socket,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) {
    let mut pending: HashMap<u64, Ack> = HashMap::new();
    let mut next_id = 0_u64;
    let reason = loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Emit { packet, ack }) => {
                    let id = next_id;
                    next_id += 1;
                    if send_text(&mut socket, format!("42{id}{packet}")).await.is_err() {
                        let _ = ack.send(Err(ClientError::Disconnected));
                        break "the socket broke".to_owned();
                    }
                    pending.insert(id, ack);
                }
                Some(Command::Close { done }) => {
                    let _ = socket.close(None).await;
                    let _ = done.send(());
                    break "closed".to_owned();
                }
                None => break "closed".to_owned(),
            },
            frame = socket.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break "the server closed the socket".to_owned(),
                    Some(Ok(_)) => continue,
                };
                if text.as_str() == "2" {
                    if send_text(&mut socket, "3".to_owned()).await.is_err() {
                        break "the socket broke".to_owned();
                    }
                } else if let Some(rest) = text.strip_prefix("43") {
                    on_ack(rest, &mut pending);
                } else if let Some(message) = text.strip_prefix("42").and_then(on_event) {
                    let _ = events.send(Event::Push(message)).await;
                }
            }
        }
    };
    for (_, ack) in pending.drain() {
        let _ = ack.send(Err(ClientError::Disconnected));
    }
    let _ = events.send(Event::Closed { reason }).await;
}

/// `<id>[answer]`: resolves emit `id` with the answer's first argument.
fn on_ack(rest: &str, pending: &mut HashMap<u64, Ack>) {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(id) = rest[..digits].parse::<u64>() else {
        return;
    };
    let answer = serde_json::from_str::<Value>(&rest[digits..])
        .ok()
        .and_then(|v| v.as_array().and_then(|a| a.first().cloned()))
        .unwrap_or(Value::Null);
    if let Some(ack) = pending.remove(&id) {
        let _ = ack.send(Ok(answer));
    }
}

/// `["msg",{room,from,body,ts}]` as the `room.message` push Rallypoint sends.
fn on_event(rest: &str) -> Option<ServerMessage> {
    let packet: Value = serde_json::from_str(rest).ok()?;
    let [name, message] = packet.as_array()?.as_slice() else {
        return None;
    };
    if name.as_str()? != "msg" {
        return None;
    }
    Some(ServerMessage::RoomMessage {
        room: proto::RoomId::parse(message.get("room")?.as_str()?).ok()?,
        from: proto::PlayerId::parse(message.get("from")?.as_str()?).ok()?,
        body: proto::Body::new(message.get("body")?.clone()).ok()?,
        ts: message.get("ts")?.as_u64()?,
        offset: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pushed_message_and_an_ack() {
        let message = on_event(r#"["msg",{"room":"r1","from":"p1","body":{"n":1},"ts":5}]"#)
            .expect("a room message");
        let ServerMessage::RoomMessage { room, from, ts, .. } = message else {
            panic!("not a room message");
        };
        assert_eq!((room.as_str(), from.as_str(), ts), ("r1", "p1", 5));
        assert!(on_event(r#"["other",{}]"#).is_none());

        let (ack, answer) = oneshot::channel();
        let mut pending = HashMap::from([(12, ack)]);
        on_ack(r#"12[{"ok":true}]"#, &mut pending);
        let answer = answer.blocking_recv().expect("answered").expect("ok");
        assert_eq!(answer["ok"], true);
        assert!(pending.is_empty());
    }
}
