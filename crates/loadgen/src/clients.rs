//! Connecting many simulated players: spread over the gateways and over loopback source
//! addresses, a bounded number at a time, with a progress bar. A player speaks
//! Rallypoint's protocol (the client SDK) or, for the peer comparison, Socket.IO
//! ([`crate::socketio`]); the scenarios that both can run (`connections`, `fanout`) use
//! [`Conn`]'s shared methods, the others the SDK's client ([`Player::sdk`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rallypoint_client::{Auth, Client, ClientConfig, ClientError, Event};
use tokio::sync::mpsc;

use crate::cli::{Common, Protocol};
use crate::socketio;

/// Each socket's read buffer, for both protocols: tungstenite zero-fills this much before
/// every read (its default, 128 KiB, cost the Socket.IO side a 128 KiB `memset` per
/// frame); the load generator's thousands of sockets read small frames, and a bigger one
/// takes a few reads.
pub const READ_BUFFER_BYTES: usize = 1024;

/// One player's connection, in the protocol the run speaks.
#[derive(Debug, Clone)]
pub enum Conn {
    Rallypoint(Client),
    SocketIo(socketio::Client),
}

impl Conn {
    /// Joins `room`; the member count across the platform (0 from the peer, which does
    /// not count).
    pub async fn join_room(&self, room: &str) -> Result<u32, ClientError> {
        match self {
            Self::Rallypoint(client) => client.join_room(room).await,
            Self::SocketIo(client) => client.join_room(room).await,
        }
    }

    pub async fn send_to_room(
        &self,
        room: &str,
        body: serde_json::Value,
    ) -> Result<(), ClientError> {
        match self {
            Self::Rallypoint(client) => client.send_to_room(room, body).await,
            Self::SocketIo(client) => client.send_to_room(room, body).await,
        }
    }

    /// One round trip through the server.
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self {
            Self::Rallypoint(client) => client.ping().await,
            Self::SocketIo(client) => client.ping().await,
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Rallypoint(client) => client.close().await,
            Self::SocketIo(client) => client.close().await,
        }
    }
}

/// One connected simulated player.
#[derive(Debug)]
pub struct Player {
    pub id: String,
    pub client: Conn,
    pub events: mpsc::Receiver<Event>,
}

impl Player {
    /// The client SDK's handle, for scenarios only Rallypoint's protocol can run.
    pub fn sdk(&self) -> anyhow::Result<Client> {
        match &self.client {
            Conn::Rallypoint(client) => Ok(client.clone()),
            Conn::SocketIo(_) => anyhow::bail!(
                "this scenario speaks Rallypoint's protocol only (--protocol rallypoint)"
            ),
        }
    }

    /// Takes the player's event stream, for a task that reads it (an empty, closed one is
    /// left behind).
    pub fn take_events(&mut self) -> mpsc::Receiver<Event> {
        std::mem::replace(&mut self.events, mpsc::channel(1).1)
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>24} [{bar:32}] {pos}/{len} ({per_sec}, {elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// The settings of player `index`, homed on gateway `gateway` (reconnects go to the next
/// gateways in turn).
pub fn config_for(
    common: &Common,
    id: &str,
    index: usize,
    gateway: usize,
) -> anyhow::Result<ClientConfig> {
    anyhow::ensure!(
        !common.urls.is_empty(),
        "--url: give at least one gateway URL"
    );
    let urls: Vec<String> = (0..common.urls.len())
        .map(|k| common.urls[(gateway + k) % common.urls.len()].clone())
        .collect();
    let auth = match &common.jwt_secret {
        Some(secret) => Auth::Token(token(secret, id)?),
        None => Auth::Guest(id.to_owned()),
    };
    let loopback = urls[0].contains("://127.") || urls[0].contains("://localhost");
    let mut config = ClientConfig::new(urls, auth);
    if common.msgpack {
        config = config.msgpack();
    }
    config.request_timeout = Duration::from_secs(10);
    config.read_buffer_bytes = READ_BUFFER_BYTES;
    if loopback && common.source_ips > 1 {
        let last = 1 + (index % usize::from(common.source_ips)) as u8;
        config.local_address = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)));
    }
    Ok(config)
}

fn token(secret: &str, player: &str) -> anyhow::Result<String> {
    let exp = crate::latency::now_micros() / 1_000_000 + 6 * 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": player, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("cannot sign a player token")
}

/// Connects every `(player id, gateway index)`, `--connect-concurrency` at a time,
/// retrying each a few times. In the order given.
pub async fn connect_all(
    common: &Common,
    players: Vec<(String, usize)>,
    first_index: usize,
    progress: ProgressBar,
) -> anyhow::Result<Vec<Player>> {
    progress.set_length(players.len() as u64);
    let connected: Vec<anyhow::Result<Player>> = futures::stream::iter(
        players.into_iter().enumerate(),
    )
    .map(|(k, (id, gateway))| {
        let progress = progress.clone();
        async move {
            let config = config_for(common, &id, first_index + k, gateway)?;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let connected = match common.protocol {
                    Protocol::Rallypoint => Client::connect(config.clone())
                        .await
                        .map(|(client, events)| (Conn::Rallypoint(client), events)),
                    Protocol::SocketIo => {
                        socketio::Client::connect(&config.urls[0], &id, config.local_address)
                            .await
                            .map(|(client, events)| (Conn::SocketIo(client), events))
                    }
                };
                match connected {
                    Ok((client, events)) => {
                        progress.inc(1);
                        // The id the gateway gave (a guest `p1` is player `guest:p1`).
                        let id = match &client {
                            Conn::Rallypoint(sdk) => sdk.player().map_or(id, str::to_owned),
                            Conn::SocketIo(_) => id,
                        };
                        return Ok(Player { id, client, events });
                    }
                    Err(err) if attempt < 3 => {
                        tracing::debug!(player = %id, error = %err, "connect failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    }
                    Err(err) => return Err(anyhow::anyhow!("{id}: {err}")),
                }
            }
        }
    })
    .buffered(common.connect_concurrency.max(1))
    .collect()
    .await;
    progress.finish();
    let mut players = Vec::with_capacity(connected.len());
    for player in connected {
        players.push(player.context("a player could not connect (is the stack up? `make up`)")?);
    }
    Ok(players)
}

/// Of players connected in pairs (sender, receiver, sender, ...): the senders' clients
/// and their receivers' ids, pair by pair.
#[allow(clippy::type_complexity)]
pub fn senders_and_targets(
    players: &[Player],
) -> anyhow::Result<(std::sync::Arc<Vec<Client>>, std::sync::Arc<Vec<String>>)> {
    let senders = players
        .iter()
        .step_by(2)
        .map(Player::sdk)
        .collect::<anyhow::Result<_>>()?;
    let targets = players
        .iter()
        .skip(1)
        .step_by(2)
        .map(|p| p.id.clone())
        .collect();
    Ok((std::sync::Arc::new(senders), std::sync::Arc::new(targets)))
}

/// Closes every player's connection, a bounded number at a time.
pub async fn close_all(players: &[Player]) {
    futures::stream::iter(players.iter().map(|p| p.client.close()))
        .buffer_unordered(512)
        .collect::<Vec<()>>()
        .await;
}

/// Requests refused or failed, counted by error code, for a report's note.
#[derive(Debug, Default)]
pub struct ErrorCounts(Mutex<BTreeMap<String, u64>>);

impl ErrorCounts {
    pub fn count(&self, err: &ClientError) {
        let code = match err {
            ClientError::Server { code, .. } => code.as_str().to_owned(),
            ClientError::Timeout(_) => "timeout".to_owned(),
            ClientError::Disconnected => "disconnected".to_owned(),
            other => other.to_string(),
        };
        self.add(code);
    }

    pub fn add(&self, label: impl Into<String>) {
        *crate::lock(&self.0).entry(label.into()).or_default() += 1;
    }

    /// `code n, code n, ...`, or `None` when nothing failed.
    pub fn summary(&self) -> Option<String> {
        let counts = crate::lock(&self.0);
        (!counts.is_empty()).then(|| {
            counts
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}
