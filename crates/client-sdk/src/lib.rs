//! The Rust client SDK for Rallypoint's game-client protocol (`proto/PROTOCOL.md`, section 1).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rallypoint_client::ClientError> {
//! use rallypoint_client::{Auth, Client, ClientConfig, Event};
//! let config = ClientConfig::new(["ws://127.0.0.1:8080/ws"], Auth::Guest("alice".into()));
//! let (client, mut events) = Client::connect(config).await?;
//! client.join_queue("duel", "eu").await?;
//! while let Some(event) = events.recv().await {
//!     if let Event::Push(proto::ServerMessage::MatchFound { match_id, server, .. }) = event {
//!         println!("match {match_id} on {}", server.address);
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! What it does for a game:
//! - connects with a token or as a guest, in JSON or MessagePack;
//! - sends typed requests and matches each reply to its request by `rid` (an `error` reply
//!   becomes [`ClientError::Server`]);
//! - delivers everything else (pushes, and what the connection goes through) as [`Event`]s;
//! - reconnects when the connection drops or the gateway asks it to (`reconnect`), with
//!   backoff, to the next gateway address in its list, and resumes: the gateway restores
//!   the session (rooms, a pending `match.found`), and the SDK asks `queue.status` so the
//!   game learns where its ticket stands ([`Event::Reconnected`]). It stops after close
//!   code 4001 (the player connected elsewhere) or [`Client::close`].
//!
//! Layout: [`config`] (what to connect to and how), [`connection`] (the task that owns the
//! socket), this file (the handle a game holds).

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod config;
mod connection;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use proto::{ClientRequest, ErrorCode, Request, Rid, ServerMessage};
use tokio::sync::{mpsc, oneshot};

pub use config::{Auth, ClientConfig};
pub use proto;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The gateway refused the connection (HTTP status before the upgrade, e.g. 401).
    #[error("the gateway refused the connection ({status}): {message}")]
    Refused { status: u16, message: String },
    /// No gateway could be reached.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The gateway answered the request with an `error`.
    #[error("{code}: {message}")]
    Server { code: ErrorCode, message: String },
    /// The connection dropped before the reply came; the request may or may not have
    /// been carried out (ask, e.g. `queue.status`, then retry).
    #[error("the connection dropped before the reply")]
    Disconnected,
    /// No reply within the configured request timeout.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// The client was closed, or the session was taken over by another connection.
    #[error("the client is closed")]
    Closed,
    /// A request could not be encoded (a body over its size limit, ...).
    #[error("cannot encode the request: {0}")]
    Encode(String),
}

/// What the connection delivers besides replies.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A push from the platform (`match.found`, `room.message`, `whisper`, ...).
    Push(ServerMessage),
    /// The connection dropped (or the gateway asked the client to move); reconnecting.
    Disconnected { reason: String },
    /// Connected again and resumed: the new `welcome`, and the `queue.status` asked right
    /// after it.
    Reconnected {
        welcome: ServerMessage,
        status: Option<ServerMessage>,
    },
    /// The client will not reconnect (closed by the game, or the session was replaced:
    /// close code 4001).
    Closed { reason: String },
}

/// What the handle asks of the connection task.
pub(crate) enum Command {
    /// Send a request; answer on `reply` when its reply (matched by `rid`) arrives.
    Send {
        request: Request,
        reply: oneshot::Sender<Result<ServerMessage, ClientError>>,
    },
    /// Close the socket (1000) and stop; `done` when closed.
    Close { done: oneshot::Sender<()> },
    /// Drop the socket and reconnect to the next gateway in the list, resuming as after a
    /// lost connection.
    Reconnect,
}

/// A connected client. Cheap to clone; every clone talks over the same connection.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    next_rid: Arc<AtomicI64>,
    config: Arc<ClientConfig>,
    welcome: Arc<ServerMessage>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("urls", &self.config.urls)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the first reachable gateway of `config.urls` and reads `welcome`.
    /// Returns the client and the stream of [`Event`]s (read it: a client that does not
    /// read its events stops reading the socket once the buffer is full).
    pub async fn connect(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::Receiver<Event>), ClientError> {
        let config = Arc::new(config);
        let (commands, incoming) = mpsc::channel(256);
        let (events_tx, events) = mpsc::channel(config.event_buffer);
        let welcome = connection::start(config.clone(), incoming, events_tx).await?;
        Ok((
            Client {
                commands,
                next_rid: Arc::new(AtomicI64::new(1)),
                config,
                welcome: Arc::new(welcome),
            },
            events,
        ))
    }

    /// The `welcome` of the first connection (player id, session, gateway).
    pub fn welcome(&self) -> &ServerMessage {
        &self.welcome
    }

    /// The player id the gateway gave this client.
    pub fn player(&self) -> Option<&str> {
        match &*self.welcome {
            ServerMessage::Welcome { player, .. } => Some(player.as_str()),
            _ => None,
        }
    }

    /// Sends `request` and waits for its reply. An `error` reply is
    /// [`ClientError::Server`].
    pub async fn request(&self, request: ClientRequest) -> Result<ServerMessage, ClientError> {
        let rid = Rid::Int(self.next_rid.fetch_add(1, Ordering::Relaxed));
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Send {
                request: Request::with_rid(request, rid),
                reply,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(self.config.request_timeout, answer).await {
            Ok(Ok(Ok(ServerMessage::Error { code, message, .. }))) => {
                Err(ClientError::Server { code, message })
            }
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout(self.config.request_timeout)),
        }
    }

    /// `ping` -> `pong`.
    pub async fn ping(&self) -> Result<(), ClientError> {
        self.request(ClientRequest::Ping).await.map(|_| ())
    }

    /// `queue.join`: the new ticket's id.
    pub async fn join_queue(&self, queue: &str, region: &str) -> Result<String, ClientError> {
        let request = ClientRequest::QueueJoin {
            queue: id(queue)?,
            region: id(region)?,
        };
        match self.request(request).await? {
            ServerMessage::QueueJoined { ticket, .. } => Ok(ticket.to_string()),
            other => Err(unexpected(other)),
        }
    }

    /// `queue.leave`.
    pub async fn leave_queue(&self) -> Result<(), ClientError> {
        self.request(ClientRequest::QueueLeave).await.map(|_| ())
    }

    /// `queue.status`: the reply as is (`state`, queue, wait, match).
    pub async fn queue_status(&self) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::QueueStatus).await
    }

    /// `room.join`: how many members the room has now.
    pub async fn join_room(&self, room: &str) -> Result<u32, ClientError> {
        match self
            .request(ClientRequest::RoomJoin {
                room: id(room)?,
                since: None,
            })
            .await?
        {
            ServerMessage::RoomJoined { members, .. } => Ok(members),
            other => Err(unexpected(other)),
        }
    }

    /// `room.leave`.
    pub async fn leave_room(&self, room: &str) -> Result<(), ClientError> {
        self.request(ClientRequest::RoomLeave { room: id(room)? })
            .await
            .map(|_| ())
    }

    /// `room.join` with `since`: joins `room` and has every message after offset `since`
    /// sent first, in order (pushes, before the live ones). Whether the room's history
    /// reached back that far (`recovered`).
    pub async fn join_room_since(&self, room: &str, since: u64) -> Result<bool, ClientError> {
        match self
            .request(ClientRequest::RoomJoin {
                room: id(room)?,
                since: Some(since),
            })
            .await?
        {
            ServerMessage::RoomJoined { recovered, .. } => Ok(recovered.unwrap_or(false)),
            other => Err(unexpected(other)),
        }
    }

    /// `room.history`: the newest kept messages of `room` (before offset `before`, if
    /// given), at most `limit` (1..=100), oldest first.
    pub async fn room_history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<proto::HistoryMessage>, ClientError> {
        match self
            .request(ClientRequest::RoomHistory {
                room: id(room)?,
                before,
                limit,
            })
            .await?
        {
            ServerMessage::RoomHistory { messages, .. } => Ok(messages),
            other => Err(unexpected(other)),
        }
    }

    /// `room.members`: one page of `room`'s members (sorted by id), and the cursor of the
    /// next page (`None` on the last). Only a member of the room may ask.
    pub async fn room_members(
        &self,
        room: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), ClientError> {
        let cursor = cursor.map(id).transpose()?;
        match self
            .request(ClientRequest::RoomMembers {
                room: id(room)?,
                cursor,
            })
            .await?
        {
            ServerMessage::RoomMembers {
                members, cursor, ..
            } => Ok((
                members.iter().map(ToString::to_string).collect(),
                cursor.map(|c| c.to_string()),
            )),
            other => Err(unexpected(other)),
        }
    }

    /// Every member of `room`, page after page.
    pub async fn all_room_members(&self, room: &str) -> Result<Vec<String>, ClientError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = self.room_members(room, cursor.as_deref()).await?;
            all.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// `presence.get`: whether each of `players` (at most 100) is online, and when they
    /// were last seen.
    pub async fn presence(
        &self,
        players: &[&str],
    ) -> Result<std::collections::BTreeMap<String, proto::PlayerPresence>, ClientError> {
        let players = players
            .iter()
            .map(|p| id(p))
            .collect::<Result<Vec<_>, _>>()?;
        match self.request(ClientRequest::PresenceGet { players }).await? {
            ServerMessage::Presence { players, .. } => Ok(players
                .into_iter()
                .map(|(player, presence)| (player.to_string(), presence))
                .collect()),
            other => Err(unexpected(other)),
        }
    }

    /// `block`: whispers from `player` stop reaching this player (kept across sessions;
    /// the sender is not told).
    pub async fn block(&self, player: &str) -> Result<(), ClientError> {
        self.request(ClientRequest::Block {
            player: id(player)?,
        })
        .await
        .map(|_| ())
    }

    /// `unblock`: whispers from `player` reach this player again.
    pub async fn unblock(&self, player: &str) -> Result<(), ClientError> {
        self.request(ClientRequest::Unblock {
            player: id(player)?,
        })
        .await
        .map(|_| ())
    }

    /// `room.send` of a JSON value to every member of `room`.
    pub async fn send_to_room(
        &self,
        room: &str,
        body: serde_json::Value,
    ) -> Result<(), ClientError> {
        let body = proto::Body::new(body).map_err(|e| ClientError::Encode(e.to_string()))?;
        self.request(ClientRequest::RoomSend {
            room: id(room)?,
            body,
        })
        .await
        .map(|_| ())
    }

    /// `whisper` of a JSON value to player `to`.
    pub async fn whisper(&self, to: &str, body: serde_json::Value) -> Result<(), ClientError> {
        let body = proto::Body::new(body).map_err(|e| ClientError::Encode(e.to_string()))?;
        self.request(ClientRequest::Whisper { to: id(to)?, body })
            .await
            .map(|_| ())
    }

    /// `profile.get`: the player's own profile (`profile` reply).
    pub async fn profile(&self) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::ProfileGet).await
    }

    /// `data.get`: one game data document (`data` reply).
    pub async fn game_data(&self, kind: &str, doc: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::DataGet {
            kind: id(kind)?,
            id: id(doc)?,
        })
        .await
    }

    /// `party.create`: a new party led by this player (the `party` reply).
    pub async fn create_party(&self) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::PartyCreate).await
    }

    /// `party.invite`: invites player `to`; the party's id. They get the push
    /// `party.invite` wherever they are connected.
    pub async fn invite_to_party(&self, to: &str) -> Result<String, ClientError> {
        match self
            .request(ClientRequest::PartyInvite { to: id(to)? })
            .await?
        {
            ServerMessage::PartyInvited { party, .. } => Ok(party.to_string()),
            other => Err(unexpected(other)),
        }
    }

    /// `party.accept`: joins a party that invited this player (the `party` reply).
    pub async fn accept_party(&self, party: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::PartyAccept { party: id(party)? })
            .await
    }

    /// `party.decline`: turns an invite down.
    pub async fn decline_party(&self, party: &str) -> Result<(), ClientError> {
        self.request(ClientRequest::PartyDecline { party: id(party)? })
            .await
            .map(|_| ())
    }

    /// `party.leave`.
    pub async fn leave_party(&self) -> Result<(), ClientError> {
        self.request(ClientRequest::PartyLeave).await.map(|_| ())
    }

    /// `party.kick` (leader only): the `party` reply without `player`.
    pub async fn kick_from_party(&self, player: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::PartyKick {
            player: id(player)?,
        })
        .await
    }

    /// `party.promote` (leader only): the `party` reply with `player` leading.
    pub async fn promote_in_party(&self, player: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::PartyPromote {
            player: id(player)?,
        })
        .await
    }

    /// `party.get`: this player's party (`not_in_party` when there is none).
    pub async fn party(&self) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::PartyGet).await
    }

    /// `match.accept`: accepts the ready check of `match_id` (the `match.ready_update`
    /// reply: how many accepted so far, of how many).
    pub async fn accept_match(&self, match_id: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::MatchAccept {
            match_id: id(match_id)?,
        })
        .await
    }

    /// `match.decline`: declines the ready check of `match_id` (the match is cancelled,
    /// and this player may not queue for the queue's cool-down).
    pub async fn decline_match(&self, match_id: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientRequest::MatchDecline {
            match_id: id(match_id)?,
        })
        .await
    }

    /// Leaves the current gateway and connects to the next one in the list (the same one
    /// if there is only one), resuming as after a lost connection: `Disconnected`, then
    /// `Reconnected` once back, with every room rejoined with `since` (a game moving to a
    /// better network, say; the load generator's `recovery` scenario).
    pub async fn reconnect(&self) -> Result<(), ClientError> {
        self.commands
            .send(Command::Reconnect)
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Closes the connection (code 1000) and stops reconnecting.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        // A connection task that already ended has nothing left to close.
        if self.commands.send(Command::Close { done }).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn id(raw: &str) -> Result<proto::Id, ClientError> {
    proto::Id::parse(raw).map_err(|e| ClientError::Encode(format!("{raw:?}: {e}")))
}

fn unexpected(message: ServerMessage) -> ClientError {
    ClientError::Server {
        code: ErrorCode::Internal,
        message: format!("unexpected reply {}", message.type_name()),
    }
}
