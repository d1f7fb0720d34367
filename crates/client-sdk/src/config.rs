//! What a client connects to and how it behaves.

use std::net::IpAddr;
use std::time::Duration;

use proto::Encoding;

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A JWT (HS256, `sub` = player id) sent as `Authorization: Bearer`.
    Token(String),
    /// A guest name: the player is `guest:<name>` (only where the deployment allows
    /// guests: development ones such as the local stack). [`crate::Client::player`] says
    /// the id the gateway gave.
    Guest(String),
}

/// A client's settings. [`ClientConfig::new`] gives sensible defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Gateway WebSocket URLs (`ws://host:8080/ws`); reconnects go to the next one.
    pub urls: Vec<String>,
    pub auth: Auth,
    /// JSON (text frames) or MessagePack (binary frames).
    pub encoding: Encoding,
    /// How long a request waits for its reply.
    pub request_timeout: Duration,
    /// First pause before reconnecting; doubled after each failed attempt up to
    /// `reconnect_max` (a `reconnect` push's `after_ms` replaces the first pause).
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub reconnect_attempts: Option<u32>,
    /// Events buffered for the game; past it the client stops reading the socket.
    pub event_buffer: usize,
    /// How often the client pings while idle (the gateway closes a silent connection).
    pub ping_interval: Duration,
    /// The local address to connect from (`None`: the system chooses). A load generator
    /// holding many thousands of sockets spreads them over `127.0.0.x` so that ports do
    /// not run out.
    pub local_address: Option<IpAddr>,
    /// The socket's read buffer (tungstenite's default is 128 KiB; a game's one
    /// connection needs far less, and a load generator holds thousands).
    pub read_buffer_bytes: usize,
}

impl ClientConfig {
    pub fn new<I, S>(urls: I, auth: Auth) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            urls: urls.into_iter().map(Into::into).collect(),
            auth,
            encoding: Encoding::Json,
            request_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(5),
            reconnect_attempts: None,
            event_buffer: 1024,
            ping_interval: Duration::from_secs(15),
            local_address: None,
            read_buffer_bytes: 8 * 1024,
        }
    }

    /// The same settings in MessagePack.
    pub fn msgpack(mut self) -> Self {
        self.encoding = Encoding::MsgPack;
        self
    }
}
