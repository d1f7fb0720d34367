//! One client connection, from the upgraded socket to its cleanup.
//!
//! Two tasks per socket: this one reads frames and answers requests; the writer
//! ([`crate::outbound::run_writer`]) drains the outbound queue. The player's inbox needs no
//! task: its messages are handed straight to the outbound queue by a subscription
//! callback ([`inbox_handler`]). One deadline (the idle timeout, reset by every frame) and
//! no other per-connection timer: sessions and room memberships are refreshed by the
//! gateway-wide heartbeat.
//!
//! Connect: subscribe to the player's inbox (so nothing published from now on is missed;
//! what arrives before `welcome` is held back), open the session (replacing any other,
//! whose holder is signalled through the same inbox), register locally, send `welcome`,
//! rejoin the player's rooms and party (telling the client its party's state).
//! Close: deregister, leave rooms, close the session if this connection still holds it
//! (the player's party then keeps them for the reconnect grace).

mod limits;
mod requests;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures::StreamExt;
use proto::server::reason;
use proto::{CloseCode, ConnId, Encoding, Event, RoomId, ServerMessage};
use service_runtime::subscriptions::HandlerSubscription;
use tokio::time::Instant;

use crate::auth::Identity;
use crate::chat::ChatBudget;
use crate::hub::LocalConn;
use crate::outbound::{self, Outbound};
use crate::rooms::JoinAs;
use crate::state::Shared;

use limits::{Strikes, TokenBucket};

/// One live connection's state, owned by its reader task.
struct Connection {
    shared: Arc<Shared>,
    identity: Identity,
    conn: ConnId,
    outbound: Outbound,
    /// This connection as the hub and rooms know it.
    member: LocalConn,
    /// Rooms this connection is in.
    rooms: HashSet<RoomId>,
    limiter: TokenBucket,
    strikes: Strikes,
    /// Work owed right after the current request's reply goes out (a recovery's
    /// messages, then the room's held ones).
    after_reply: Option<requests::AfterReply>,
}

/// Serves one client's socket until it closes; `slot` (its place under the gateway's
/// connection cap) is given back when it does. `strikes`: the player's abuse strikes in
/// the current minute when they connected.
///
/// Not an `async fn`: the set-up runs here, and the returned future captures only what
/// the connection's life needs and uses it in place. An `async fn` keeps its arguments
/// (the 368-byte socket among them) in its state beside the locals made from them, for
/// the connection's whole life: its future was 1,808 bytes, now 864. The caller spawns
/// it as a task of its own (`http::upgrade`).
pub fn run(
    shared: Arc<Shared>,
    socket: WebSocket,
    identity: Identity,
    encoding: Encoding,
    slot: crate::admission::Slot,
    strikes: u32,
) -> impl Future<Output = ()> + Send {
    let local_id = shared.next_local_id();
    let Ok(conn) = ConnId::parse(&uuid::Uuid::new_v4().simple().to_string()) else {
        return futures::future::Either::Left(std::future::ready(()));
    };
    let (sink, mut stream) = socket.split();
    let outbound = Outbound::new(shared.config.outbound_queue, encoding);
    let writer = tokio::spawn(outbound::run_writer(sink, outbound.clone()));
    let mut connection = Connection {
        member: LocalConn {
            local_id,
            player: identity.player.clone(),
            conn: conn.to_string(),
            outbound: outbound.clone(),
            chat: ChatBudget::default(),
            mute: crate::chat::Mute::default(),
            blocks: crate::blocks::BlockList::default(),
            refresh: crate::session::RefreshHints::default(),
        },
        limiter: TokenBucket::new(shared.config.rate_per_second, shared.config.rate_burst),
        strikes: Strikes::starting_at(shared.config.abuse_strikes, strikes),
        identity,
        conn,
        outbound,
        rooms: HashSet::new(),
        after_reply: None,
        shared,
    };
    metrics::counter!("rallypoint_gateway_connections_total").increment(1);
    // Captured values are used in place, never rebound: each is kept once in the task.
    futures::future::Either::Right(async move {
        // Opening, answering a request and cleaning up are boxed: their futures are large
        // (Redis scripts, several awaits) and only live while they run, so an idle
        // connection's task stays small (see `Connection::boxed_open`). The opening's result
        // is taken before the `match`: a temporary in a `match`'s scrutinee lives until the
        // match ends, which would keep the finished 9.5 KB `open` future for the
        // connection's whole life.
        let opened = connection.boxed_open().await;
        match opened {
            Ok(inbox) => {
                connection.serve(&mut stream).await;
                connection.boxed_cleanup().await;
                drop(inbox);
            }
            Err(err) => {
                tracing::warn!(player = %connection.identity.player, error = %err, "cannot open a session; closing with 1011");
                connection.outbound.send(&ServerMessage::error(
                    proto::ErrorCode::Unavailable,
                    "the gateway cannot reach its store right now; reconnect shortly",
                    None,
                ));
                connection.outbound.close(CloseCode::Internal);
            }
        }
        // The writer sends what is queued (a close frame last) and stops; bounded, so a client
        // that stopped reading cannot keep this task.
        if tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .is_err()
        {
            connection.outbound.abort(CloseCode::Internal);
        }
        // We closed: let the client answer the close frame before the socket is dropped.
        // Dropping it with the client's last frames still unread makes the kernel reset the
        // connection, and a reset can destroy what we sent last (the error, the close frame).
        if connection.outbound.close_code().is_some() {
            let _answered_or_gone = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(frame)) = stream.next().await {
                    if matches!(frame, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        // The connection's place under the cap is free once its socket is done with.
        drop(slot);
    })
}

/// How long a client gets to answer our close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How long after replacing a session a connection takes in the chat budget the replaced
/// one saved as it closed (a kick and a cleanup take milliseconds).
const REPLACED_SETTLE: Duration = Duration::from_millis(250);

/// A connection that replaced a live session opened with the budget saved before the
/// replaced one's last messages: one touch shortly after takes in what that connection
/// saved as it closed, instead of waiting for the next heartbeat ([`crate::chat`]).
fn settle_chat_budget(shared: &Arc<Shared>, member: &LocalConn) {
    let (shared, member) = (shared.clone(), member.clone());
    tokio::spawn(async move {
        tokio::time::sleep(REPLACED_SETTLE).await;
        // A connection already gone has ended its session: a touch would restore it.
        if !shared.hub.is_open(member.local_id) {
            return;
        }
        let touched = shared
            .sessions
            .touch(
                member.player.as_str(),
                &member.conn,
                member.chat.to_save_ms(),
                member.refresh.needs().0,
            )
            .await;
        if let Ok(touched) = touched {
            member.chat.merge_saved(touched.chat_full_at_ms);
            if let Some(until_ms) = touched.muted_until_ms {
                member.mute.set(until_ms);
            }
        }
    });
}

/// A future on the heap, of a step that only lives while it runs.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Connection {
    // The large steps are boxed by plain functions, not in `run`'s body: a future built
    // inside an async fn keeps its whole size in that fn's state even when it is moved
    // straight into `Box::pin` (rust-lang/rust#62958). Boxed in `run`, the opening alone
    // made every connection's task 11.3 KB, most of it the 9.5 KB `open` future, idle
    // for the connection's whole life.
    fn boxed_open(&mut self) -> Boxed<'_, anyhow::Result<HandlerSubscription>> {
        Box::pin(self.open())
    }

    fn boxed_cleanup(&mut self) -> Boxed<'_, ()> {
        Box::pin(self.cleanup())
    }

    fn boxed_on_frame<'a>(&'a mut self, data: &'a [u8]) -> Boxed<'a, ()> {
        Box::pin(self.on_frame(data))
    }

    /// Sends `welcome`, subscribes the inbox, opens the session, rejoins rooms.
    async fn open(&mut self) -> anyhow::Result<HandlerSubscription> {
        let shared = self.shared.clone();
        let player = self.identity.player.as_str();
        let gate = Arc::new(Mutex::new(InboxGate::default()));
        let inbox = shared
            .ctx
            .subscriptions
            .subscribe_with(
                &shared.ctx.keys.player(player).inbox_channel(),
                inbox_handler(gate.clone(), self.conn.clone(), self.member.clone()),
            )
            .await?;
        // The hand-over marker, published by session_open.lua if this replaces a session:
        // the old gateway delivers the pushes before it on the inbox, this one those after.
        let handover = shared.ctx.publisher.envelope(Event::SessionReplaced {
            player: self.identity.player.clone(),
            new_conn: self.conn.clone(),
            new_gateway: shared.gateway_id.clone(),
        })?;
        let opened = shared
            .sessions
            .open(player, self.conn.as_str(), handover)
            .await?;
        self.member.chat.merge_saved(opened.chat_full_at_ms);
        // A mute event that came since is held by the inbox gate and applied after this.
        self.member.mute.set(opened.muted_until_ms);
        self.member.blocks.replace(
            opened
                .blocks
                .iter()
                .filter_map(|b| proto::PlayerId::parse(b).ok()),
        );
        if let Some((old_gateway, old_conn)) = &opened.replaced {
            // The hand-over went out with the session (a lost one is caught by the old
            // gateway's next heartbeat: its touch finds the session taken over).
            tracing::debug!(player, old_gateway, old_conn, "session replaced");
            settle_chat_budget(&shared, &self.member);
        }
        // The cache-warmer loads the profile, and the block list from PostgreSQL (its
        // `blocks` event brings the list to this connection).
        if !opened.profile_cached || !opened.blocks_loaded {
            let warm = Event::WarmProfiles {
                players: vec![self.identity.player.clone()],
            };
            if let Err(refusal) = self
                .publish(&shared.ctx.keys.warm_requests_channel(), warm)
                .await
            {
                tracing::debug!(player, error = %refusal.message, "profile warm request lost; a join asks again");
            }
        }
        let previous = shared.hub.register(self.member.clone());
        if let Some(previous) = previous {
            kick(&previous.outbound);
        }
        self.outbound.send(&ServerMessage::Welcome {
            player: self.identity.player.clone(),
            session: self.conn.clone(),
            gateway: shared.gateway_id.clone(),
            heartbeat_ms: shared.config.heartbeat_ms,
        });
        // Pushes sent while the player was between sockets, oldest first; then what the
        // inbox held since this connection subscribed (after the hand-over, if it
        // replaced a session: the ones before it went to the old socket).
        for payload in &opened.kept_pushes {
            on_inbox(payload, &self.conn, &self.member);
        }
        open_gate(&gate, &self.conn, &self.member, opened.replaced.is_some());
        // A player reconnecting while in a match is told the match again (the push may
        // have gone to the old socket, or nowhere).
        if let Some(match_id) = &opened.live_match {
            match shared.matches.match_found(player, match_id).await {
                Ok(Some(found)) => self.outbound.send(&found),
                // Not announced yet: it may be waiting for this player's ready answer.
                Ok(None) => match shared.matches.owed_ready_check(player, match_id).await {
                    Ok(Some(check)) => self.outbound.send(&check),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::debug!(player, error = %err, "cannot look up a ready check");
                    }
                },
                Err(err) => {
                    tracing::debug!(player, error = %err, "cannot look up the live match; queue.status tells it");
                }
            }
        }
        // Back in the party (within the reconnect grace), and told its state.
        if let Some(party) = &opened.party {
            match shared.parties.refresh(player, party, true).await {
                Ok(refreshed) => {
                    if let Some(party) = &refreshed.party {
                        match party.updated() {
                            Ok(updated) => self.outbound.send(&updated),
                            Err(err) => {
                                tracing::error!(player, error = %err, "cannot tell a party")
                            }
                        }
                    }
                    crate::party_queue::after_refresh(&shared, &refreshed).await;
                }
                Err(err) => {
                    tracing::debug!(player, error = %err, "cannot refresh the party on reconnect; the heartbeat will");
                }
            }
        }
        // Rooms that keep history are rejoined held: their messages wait for the client's
        // `room.join` with `since` (or REJOIN_HOLD), so it can recover what it missed in
        // order; a client that does not ask gets them when the hold ends.
        let mut held = Vec::new();
        if !opened.rooms.is_empty() {
            self.member.refresh.joining_rooms();
        }
        for room in opened.rooms {
            let Ok(room) = RoomId::parse(&room) else {
                continue;
            };
            if self.rooms.len() >= shared.config.max_rooms {
                break;
            }
            let mode = if shared.history.kinds().history(room.as_str()).is_some() {
                JoinAs::Held
            } else {
                JoinAs::Live
            };
            match shared.rooms.join(&room, &self.member, mode).await {
                Ok(_) => {
                    if mode == JoinAs::Held {
                        held.push(room.clone());
                    }
                    self.rooms.insert(room);
                }
                Err(err) => {
                    tracing::warn!(player, room = %room, error = %err, "could not rejoin a room after reconnect");
                }
            }
        }
        if !held.is_empty() {
            let rooms = shared.rooms.clone();
            let local_id = self.member.local_id;
            // Not tracked: the drain need not wait for a hold to end.
            tokio::spawn(async move {
                tokio::time::sleep(crate::rooms::REJOIN_HOLD).await;
                for room in held {
                    rooms.release(&room, local_id, None);
                }
            });
        }
        Ok(inbox)
    }

    /// Reads frames until the socket closes or we close it.
    async fn serve(&mut self, stream: &mut futures::stream::SplitStream<WebSocket>) {
        let idle_timeout = Duration::from_millis(self.shared.config.idle_timeout_ms);
        let idle = tokio::time::sleep(idle_timeout);
        tokio::pin!(idle);
        let outbound = self.outbound.clone();
        loop {
            tokio::select! {
                biased;
                () = outbound.closed() => break,
                () = &mut idle => {
                    metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "idle").increment(1);
                    self.outbound.close(CloseCode::IdleTimeout);
                    break;
                }
                frame = stream.next() => {
                    idle.as_mut().reset(Instant::now() + idle_timeout);
                    match frame {
                        Some(Ok(Message::Text(text))) => self.boxed_on_frame(text.as_bytes()).await,
                        Some(Ok(Message::Binary(data))) => self.boxed_on_frame(&data).await,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => {
                            self.outbound.abort_quietly();
                            break;
                        }
                        Some(Err(err)) => {
                            self.on_read_error(&err);
                            break;
                        }
                    }
                }
            }
            if self.outbound.close_code().is_some() {
                break;
            }
        }
    }

    fn on_read_error(&self, err: &axum::Error) {
        let too_large = std::error::Error::source(err)
            .and_then(|e| e.downcast_ref::<tungstenite::Error>())
            .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
        if too_large {
            metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "too_large")
                .increment(1);
            self.outbound.close(CloseCode::TooLarge);
        } else {
            tracing::debug!(error = %err, "socket read failed; the client is gone");
            self.outbound.abort_quietly();
        }
    }

    /// Saves the chat budget and ends the session (if still ours), leaves every room,
    /// forgets the connection. Runs before the socket is dropped, so a client that closed
    /// and reconnects finds its chat budget saved.
    async fn cleanup(&mut self) {
        let shared = self.shared.clone();
        shared.hub.deregister(self.member.local_id);
        let player = self.identity.player.as_str();
        let conn = self.conn.as_str();
        match shared
            .sessions
            .close(player, conn, self.member.chat.to_save_ms())
            .await
        {
            Ok(closed) => {
                // Away: the party keeps the player for the reconnect grace.
                if let (true, Some(party)) = (closed.removed, closed.party) {
                    match shared.parties.refresh(player, &party, false).await {
                        Ok(refreshed) => {
                            crate::party_queue::after_refresh(&shared, &refreshed).await;
                        }
                        Err(err) => {
                            tracing::debug!(player, error = %err, "could not mark a party member away; the membership lapses by itself");
                        }
                    }
                }
            }
            Err(err) => {
                tracing::debug!(player, error = %err, "could not close the session; it lapses by itself");
            }
        }
        let leaves = self
            .rooms
            .iter()
            .map(|room| shared.rooms.leave(room, &self.member, false));
        for result in futures::future::join_all(leaves).await {
            if let Err(err) = result {
                tracing::debug!(player, error = %err, "could not leave a room on close; the membership lapses by itself");
            }
        }
        if !self.outbound.is_closed() {
            self.outbound.close(CloseCode::Internal);
        }
    }
}

/// Holds inbox messages that arrive while the connection is still opening, so `welcome`
/// is always the first frame and nothing published after the subscription is lost.
///
/// A connection that replaced another session of the player takes only the pushes after
/// its own hand-over marker (published by `session_open.lua` with the session): those
/// before it on the inbox went to the old socket, whose gateway stops at the marker. So
/// each push reaches one socket of the player. Should the marker not come (the
/// subscription was cut), the wait ends after [`HANDOVER_WAIT`] and pushes flow.
#[derive(Debug, Default)]
struct InboxGate {
    open: bool,
    held: Vec<Bytes>,
    /// Since when pushes are dropped until this connection's hand-over marker comes.
    awaiting_handover: Option<std::time::Instant>,
}

/// The longest a replacing connection waits for its hand-over marker.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);

/// Whether `payload` is the hand-over marker of connection `conn`.
fn is_handover_of(payload: &[u8], conn: &ConnId) -> bool {
    matches!(
        proto::decode_event(payload, proto::MAX_EVENT_BYTES),
        Ok(proto::EventEnvelope {
            event: Event::SessionReplaced { new_conn, .. },
            ..
        }) if new_conn == *conn
    )
}

fn lock(gate: &Mutex<InboxGate>) -> std::sync::MutexGuard<'_, InboxGate> {
    gate.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the gate once `welcome` is queued, handing on what it held; after a hand-over
/// (`replaced`) only what came after this connection's marker.
fn open_gate(gate: &Mutex<InboxGate>, conn: &ConnId, member: &LocalConn, replaced: bool) {
    let mut gate = lock(gate);
    gate.open = true;
    let held = std::mem::take(&mut gate.held);
    let (from, dropped) = if replaced {
        match held.iter().position(|p| is_handover_of(p, conn)) {
            Some(marker) => (marker + 1, marker),
            None => {
                gate.awaiting_handover = Some(std::time::Instant::now());
                (held.len(), held.len())
            }
        }
    } else {
        (0, 0)
    };
    if dropped > 0 {
        metrics::counter!("rallypoint_gateway_handover_skipped_total").increment(dropped as u64);
    }
    for payload in held.iter().skip(from) {
        on_inbox(payload, conn, member);
    }
}

/// The callback that takes the messages of a player's inbox channel for one connection.
/// Runs on the subscription dispatcher, so it only decodes and queues.
fn inbox_handler(
    gate: Arc<Mutex<InboxGate>>,
    conn: ConnId,
    member: LocalConn,
) -> impl Fn(Bytes) + Send + Sync + 'static {
    move |payload| {
        let mut gate = lock(&gate);
        if !gate.open {
            gate.held.push(payload);
            return;
        }
        if let Some(since) = gate.awaiting_handover {
            if is_handover_of(&payload, &conn) {
                gate.awaiting_handover = None;
                return;
            }
            if since.elapsed() < HANDOVER_WAIT {
                // The old socket's: its gateway delivers it.
                metrics::counter!("rallypoint_gateway_handover_skipped_total").increment(1);
                return;
            }
            gate.awaiting_handover = None;
        }
        on_inbox(&payload, &conn, &member);
    }
}

/// One inbox message: pushes go to the client (a whisper from a player they blocked does
/// not), and a newer session of the player kicks this one.
fn on_inbox(payload: &[u8], conn: &ConnId, member: &LocalConn) {
    let (outbound, mute) = (&member.outbound, &member.mute);
    let envelope = match proto::decode_event(payload, proto::MAX_EVENT_BYTES) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(error = %err, "undecodable message on an inbox channel");
            return;
        }
    };
    match envelope.event {
        Event::Deliver {
            conn: to, message, ..
        } => {
            // The player may be in a party now (one a replaced connection's late request
            // put them in, too): the heartbeat keeps their party pointer alive again.
            if matches!(message, ServerMessage::PartyUpdated { .. }) {
                member.refresh.party_maybe();
            }
            if let ServerMessage::Whisper { from, .. } = &message
                && member.blocks.contains(from)
            {
                metrics::counter!("rallypoint_gateway_whispers_blocked_total").increment(1);
                return;
            }
            if to.as_ref().is_none_or(|c| c == conn) {
                metrics::counter!("rallypoint_gateway_deliveries_total", "kind" => "inbox")
                    .increment(1);
                // A traced push (a `match.found` from the pool) ends its trace here.
                let _traced = envelope.trace.as_ref().map(|carrier| {
                    let span = tracing::info_span!("push", message = message.type_name());
                    service_runtime::trace::continue_from(
                        &span,
                        service_runtime::trace::from_carrier(Some(carrier)),
                    );
                    span.entered()
                });
                outbound.send(&message);
            }
        }
        Event::SessionReplaced { new_conn, .. } => {
            if new_conn != *conn {
                kick(outbound);
            }
        }
        // The studio's backend mutes the player, or lifts it (server API).
        Event::Mute { until_ms, .. } => mute.set(until_ms),
        // The cache-warmer loaded the player's block list from PostgreSQL.
        Event::Blocks { blocked, .. } => member.blocks.replace(blocked),
        // The studio's backend disconnects the player (server API).
        Event::Disconnect { reason, .. } => {
            if outbound.close_code().is_none() {
                metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "server_api")
                    .increment(1);
                outbound.send(&ServerMessage::Kicked { reason });
                outbound.close(CloseCode::Kicked);
            }
        }
        other => {
            tracing::debug!(kind = other.type_name(), "ignoring an event on an inbox");
        }
    }
}

/// Tells a connection it was replaced and closes it with 4001.
pub fn kick(outbound: &Outbound) {
    if outbound.close_code().is_some() {
        // Already closing (the local hub and the inbox signal can both kick).
        return;
    }
    metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "replaced").increment(1);
    outbound.send(&ServerMessage::Kicked {
        reason: reason::SESSION_REPLACED.to_owned(),
    });
    outbound.close(CloseCode::SessionReplaced);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> proto::Id {
        proto::Id::parse(s).expect("an id")
    }

    fn push(message: ServerMessage) -> Bytes {
        let event = Event::Deliver {
            player: id("bob"),
            conn: None,
            message,
        };
        proto::encode_event(&proto::EventEnvelope::new(event, 0)).expect("encodes")
    }

    #[test]
    fn a_party_change_reaching_the_player_makes_the_heartbeat_keep_their_party_again() {
        let conn = id("c1");
        let member = LocalConn {
            local_id: 1,
            player: id("bob"),
            conn: conn.to_string(),
            outbound: Outbound::new(8, Encoding::Json),
            chat: ChatBudget::default(),
            mute: crate::chat::Mute::default(),
            blocks: crate::blocks::BlockList::default(),
            refresh: crate::session::RefreshHints::default(),
        };
        let (_, seen) = member.refresh.needs();
        member.refresh.no_party(seen);

        on_inbox(&push(ServerMessage::Pong { rid: None }), &conn, &member);
        assert!(!member.refresh.needs().0.party, "not a party change");

        let updated = ServerMessage::PartyUpdated {
            party: id("p1"),
            leader: id("ann"),
            members: vec![id("ann"), id("bob")],
        };
        on_inbox(&push(updated), &conn, &member);
        assert!(member.refresh.needs().0.party);
    }
}
