//! Chat rooms: membership in Redis, delivery through one subscription per gateway.
//!
//! **Membership** lives in the room's slot (`{r:<room>}`): a sorted set of members scored by
//! when the membership lapses, and the connection owning each. The gateway holding a member
//! pushes the lapse time forward every heartbeat (`room_refresh.lua`), so the members of a
//! gateway that died lapse within the session TTL and are pruned before any count; a
//! connection's cleanup removes only memberships it still owns (`room_leave.lua`), so a
//! player who reconnected elsewhere keeps theirs. The player's own set of rooms
//! (`{p:<player>}:rooms`) lets a reconnect on any gateway rejoin them.
//!
//! **Delivery**: a message is published once to the room's sharded channel. A gateway
//! subscribes to that channel when its first local member joins and drops it when the last
//! one leaves (reference count). The subscription's callback, run by the process's one
//! pub/sub dispatcher (no task or queue per room), encodes each message once per wire
//! encoding and hands the same bytes to every local member's outbound queue.
//!
//! **Held members**: a member whose room keeps history may be held for a moment: the
//! room's messages for it are kept in order (bounded by [`HELD_MESSAGES`]) instead of
//! sent, until [`Rooms::release`] sends the ones after a given offset and makes it live.
//! A `room.join` with `since` holds the member while it reads the history, so the
//! recovered messages, then the held ones, then live ones reach the client in order, none
//! twice and none missed; a reconnect holds the rooms it rejoins until the client asks
//! with `since` (or [`REJOIN_HOLD`] passes). The channel's copy of a message the history
//! read already returned may arrive after the release (pub/sub can trail a read): the
//! released member skips messages up to the offset it was sent (`recovered_upto`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::{Client, SetsInterface};
use proto::{Event, RoomId, ServerMessage};
use service_runtime::script::LuaScript;
use service_runtime::subscriptions::{HandlerSubscription, Subscriptions};
use tokio::sync::watch;

use crate::hub::LocalConn;
use crate::outbound::{Encoded, Outbound};
use crate::room_kinds::RoomKinds;
use service_runtime::clock::now_ms;
use service_runtime::publish::Publisher;

static REFRESH: LuaScript<Vec<fred::types::Value>> =
    LuaScript::new(include_str!("rooms/room_refresh.lua"));
static LEAVE: LuaScript<i64> = LuaScript::new(include_str!("rooms/room_leave.lua"));

/// Messages held for one held member at most; past it the oldest are dropped (they are
/// in the room's history for a `since` to recover).
pub const HELD_MESSAGES: usize = 1024;
/// How long a reconnect holds the history rooms it rejoined for the client's `room.join`
/// with `since`; then the held messages are sent as they are.
pub const REJOIN_HOLD: Duration = Duration::from_secs(5);

/// Presence changes of a room are gathered this long and pushed to its local members as
/// one `room.presence`: at most one push per room per this from each gateway.
pub const PRESENCE_EVERY: Duration = Duration::from_millis(250);

/// How a member joins a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinAs {
    /// Messages flow at once.
    Live,
    /// Messages are held until [`Rooms::release`].
    Held,
}

/// A join's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// Members across every gateway, this one included.
    pub members: u32,
    /// How the connection was in the room already, if it was (it stays so).
    pub was: Option<JoinAs>,
}

/// A member whose room's messages are held.
#[derive(Debug)]
struct Held {
    member: LocalConn,
    messages: std::collections::VecDeque<ServerMessage>,
}

/// Why joining a room failed.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("redis: {0}")]
    Redis(fred::error::Error),
    #[error("cannot subscribe to the room: {0}")]
    Subscribe(String),
}

service_runtime::redis_error_from!(RoomError::Redis);

/// A room with members on this gateway.
#[derive(Debug)]
struct LocalRoom {
    /// Local members by connection number, messages flowing.
    members: HashMap<u64, LocalConn>,
    /// Local members whose messages are held (see the module doc).
    held: HashMap<u64, Held>,
    /// Members released after a recovery, by connection number, with the offset they
    /// were sent up to from the room's history. The room channel's own copy of those
    /// messages can trail the history read and reach this gateway after the release:
    /// they are skipped for these members. Dropped at the first later message (the
    /// channel brings offsets in order).
    recovered_upto: HashMap<u64, u64>,
    /// Presence changes not pushed yet (a room that keeps presence): who joined (true)
    /// or left (false) last; pushed together [`PRESENCE_EVERY`] after the first.
    presence: Option<HashMap<proto::PlayerId, bool>>,
    /// The members' outbound queues, built at the first delivery after a join or leave
    /// (which only drop it), so that delivering a message copies one pointer instead of
    /// a list per message, and a thousand joins do not rebuild it a thousand times.
    outbounds: Option<Arc<[Outbound]>>,
    /// `None` while subscribing; then whether the subscription was made.
    ready: watch::Receiver<Option<Result<(), String>>>,
    /// The room channel's subscription, once made; dropped with the entry (the last local
    /// member left), which unsubscribes.
    subscription: Option<HandlerSubscription>,
    /// Tells a subscription made for this entry from one made for an earlier one.
    generation: u64,
}

/// The rooms of one gateway instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keys: Keys,
    redis: Client,
    subscriptions: Subscriptions,
    publisher: Publisher,
    kinds: RoomKinds,
    member_ttl: Duration,
    local: Mutex<HashMap<RoomId, LocalRoom>>,
    next_generation: std::sync::atomic::AtomicU64,
}

impl Inner {
    /// The local room table. A std mutex: never held across an await.
    fn local(&self) -> MutexGuard<'_, HashMap<RoomId, LocalRoom>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Rooms {
    /// Rooms with at least one member on this instance.
    pub fn local_count(&self) -> usize {
        self.inner
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn new(
        keys: Keys,
        redis: Client,
        subscriptions: Subscriptions,
        publisher: Publisher,
        kinds: RoomKinds,
        member_ttl: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                keys,
                redis,
                subscriptions,
                publisher,
                kinds,
                member_ttl,
                local: Mutex::new(HashMap::new()),
                next_generation: std::sync::atomic::AtomicU64::new(1),
            }),
        }
    }

    /// One page of `room`'s live members across every gateway, in player id order: up to
    /// `limit` ids after `after` (a page's last id is the next page's cursor), and whether
    /// more follow. Every member present throughout a walk is listed once.
    pub async fn members_page(
        &self,
        room: &RoomId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), fred::error::Error> {
        use fred::prelude::SortedSetsInterface;
        let now = now_ms() as f64;
        let mut live: Vec<String> = self
            .inner
            .redis
            .zrangebyscore(
                self.inner.keys.room(room.as_str()).members(),
                now,
                "+inf",
                false,
                None,
            )
            .await?;
        live.sort_unstable();
        let start = after.map_or(0, |after| live.partition_point(|m| m.as_str() <= after));
        let page: Vec<String> = live.iter().skip(start).take(limit).cloned().collect();
        let more = start + page.len() < live.len();
        Ok((page, more))
    }

    /// Adds `member` to `room`: subscribes the gateway to the room if it is the first
    /// local member, records the membership, and remembers the room for the player's
    /// reconnects. Returns the member count across all gateways.
    pub async fn join(
        &self,
        room: &RoomId,
        member: &LocalConn,
        mode: JoinAs,
    ) -> Result<Joined, RoomError> {
        let (mut ready, was) = self.add_local(room, member, mode);
        let subscribed = loop {
            if let Some(result) = ready.borrow_and_update().clone() {
                break result;
            }
            if ready.changed().await.is_err() {
                break Err("the room's fan-out task stopped".to_owned());
            }
        };
        if let Err(reason) = subscribed {
            self.remove_local(room, member.local_id);
            return Err(RoomError::Subscribe(reason));
        }
        let counted = self
            .refresh(
                room,
                "take",
                &[(member.player.as_str(), member.conn.as_str())],
            )
            .await;
        let remembered: Result<i64, _> = self
            .inner
            .redis
            .sadd(
                self.inner.keys.player(member.player.as_str()).rooms(),
                room.as_str(),
            )
            .await;
        match (counted, remembered) {
            (Ok(members), Ok(_)) => Ok(Joined { members, was }),
            (Err(err), _) | (_, Err(err)) => {
                self.remove_local(room, member.local_id);
                Err(err.into())
            }
        }
    }

    /// Removes the connection from `room`. `forget`: also drop the room from the player's
    /// set (an explicit `room.leave`; a disconnect keeps it for a reconnect).
    pub async fn leave(
        &self,
        room: &RoomId,
        member: &LocalConn,
        forget: bool,
    ) -> Result<(), fred::error::Error> {
        self.remove_local(room, member.local_id);
        let removed = LEAVE
            .run(
                &self.inner.redis,
                scripts::room_membership(&self.inner.keys, room.as_str()),
                vec![member.player.to_string(), member.conn.clone()],
            )
            .await?;
        if removed == 1 {
            self.tell_presence(room, &[], &[member.player.to_string()])
                .await;
        }
        if forget {
            let _: i64 = self
                .inner
                .redis
                .srem(
                    self.inner.keys.player(member.player.as_str()).rooms(),
                    room.as_str(),
                )
                .await?;
        }
        Ok(())
    }

    /// Rooms with members on this gateway (each is one subscription).
    pub fn local_room_count(&self) -> usize {
        self.inner.local().len()
    }

    /// The heartbeat: pushes forward the memberships of every local member, room by room.
    /// Returns how many rooms failed to refresh.
    pub async fn refresh_all(&self) -> usize {
        let snapshot: Vec<(RoomId, Vec<(String, String)>)> = self
            .inner
            .local()
            .iter()
            .map(|(room, local)| {
                let members = local
                    .members
                    .values()
                    .chain(local.held.values().map(|h| &h.member))
                    .map(|m| (m.player.to_string(), m.conn.clone()))
                    .collect();
                (room.clone(), members)
            })
            .collect();
        let refreshes = snapshot.iter().map(|(room, members)| async move {
            let pairs: Vec<(&str, &str)> = members
                .iter()
                .map(|(p, c)| (p.as_str(), c.as_str()))
                .collect();
            self.refresh(room, "keep", &pairs).await
        });
        let results = futures::future::join_all(refreshes).await;
        results.iter().filter(|r| r.is_err()).count()
    }

    async fn refresh(
        &self,
        room: &RoomId,
        mode: &str,
        members: &[(&str, &str)],
    ) -> Result<u32, fred::error::Error> {
        let mut args = Vec::with_capacity(3 + members.len() * 2);
        args.push(now_ms().to_string());
        args.push(self.inner.member_ttl.as_millis().to_string());
        args.push(mode.to_owned());
        for (player, conn) in members {
            args.push((*player).to_owned());
            args.push((*conn).to_owned());
        }
        let reply = REFRESH
            .run(
                &self.inner.redis,
                scripts::room_membership(&self.inner.keys, room.as_str()),
                args,
            )
            .await?;
        let mut parts = reply.into_iter();
        let count = parts.next().and_then(|v| v.as_u64()).ok_or_else(|| {
            service_runtime::script::unexpected_reply("room_refresh.lua", "no count")
        })?;
        let names: Vec<String> = parts.filter_map(|v| v.as_string()).collect();
        let (joined, left) = match names.iter().position(String::is_empty) {
            Some(split) => (&names[..split], &names[split + 1..]),
            None => (&names[..], &names[..0]),
        };
        self.tell_presence(room, joined, left).await;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// In a room that keeps presence: tells every gateway with members there who joined
    /// and who left (a hint: a lost one leaves `room.members` as the truth).
    async fn tell_presence(&self, room: &RoomId, joined: &[String], left: &[String]) {
        if joined.is_empty() && left.is_empty()
            || !self
                .inner
                .kinds
                .of(room.as_str())
                .is_some_and(|k| k.presence)
        {
            return;
        }
        let ids = |names: &[String]| -> Vec<proto::PlayerId> {
            names
                .iter()
                .filter_map(|n| proto::PlayerId::parse(n).ok())
                .collect()
        };
        let event = Event::RoomPresence {
            room: room.clone(),
            joined: ids(joined),
            left: ids(left),
        };
        let channel = self.inner.keys.room(room.as_str()).channel();
        self.inner.publisher.publish_event(&channel, event).await;
    }

    /// Sends `local_id`'s held messages of `room` with an offset after `after` (all of
    /// them without it), in order, and lets the room's messages flow to it from now on.
    /// Nothing happens if it is not held there. The number of messages sent.
    pub fn release(&self, room: &RoomId, local_id: u64, after: Option<u64>) -> usize {
        let mut local = self.inner.local();
        let Some(entry) = local.get_mut(room) else {
            return 0;
        };
        let Some(held) = entry.held.remove(&local_id) else {
            return 0;
        };
        let mut sent = 0;
        for message in held.messages {
            let fresh = match (after, crate::room_history::offset_of(&message)) {
                (Some(after), Some(offset)) => offset > after,
                _ => true,
            };
            if fresh {
                held.member.outbound.send(&message);
                sent += 1;
            }
        }
        entry.members.insert(local_id, held.member);
        entry.outbounds = None;
        if let Some(after) = after {
            entry.recovered_upto.insert(local_id, after);
        }
        sent
    }

    /// Registers the local member, starting the room's fan-out task if it is the first;
    /// how it was in the room before, if it was.
    fn add_local(
        &self,
        room: &RoomId,
        member: &LocalConn,
        mode: JoinAs,
    ) -> (watch::Receiver<Option<Result<(), String>>>, Option<JoinAs>) {
        let mut local = self.inner.local();
        if let Some(existing) = local.get_mut(room) {
            let was = if existing.members.contains_key(&member.local_id) {
                Some(JoinAs::Live)
            } else if existing.held.contains_key(&member.local_id) {
                Some(JoinAs::Held)
            } else {
                None
            };
            // A member already in the room stays as it is; a new one joins as asked.
            if was.is_none() {
                match mode {
                    JoinAs::Live => {
                        existing.members.insert(member.local_id, member.clone());
                        existing.outbounds = None;
                    }
                    JoinAs::Held => {
                        existing.held.insert(member.local_id, held(member));
                    }
                }
            }
            return (existing.ready.clone(), was);
        }
        let (ready_tx, ready) = watch::channel(None);
        let generation = self
            .inner
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (members, held_members) = match mode {
            JoinAs::Live => (
                HashMap::from([(member.local_id, member.clone())]),
                HashMap::new(),
            ),
            JoinAs::Held => (
                HashMap::new(),
                HashMap::from([(member.local_id, held(member))]),
            ),
        };
        local.insert(
            room.clone(),
            LocalRoom {
                members,
                held: held_members,
                recovered_upto: HashMap::new(),
                presence: None,
                outbounds: None,
                ready: ready.clone(),
                subscription: None,
                generation,
            },
        );
        metrics::gauge!("rallypoint_gateway_rooms").set(local.len() as f64);
        tokio::spawn(subscribe(
            self.inner.clone(),
            room.clone(),
            generation,
            ready_tx,
        ));
        (ready, None)
    }

    fn remove_local(&self, room: &RoomId, local_id: u64) {
        let mut local = self.inner.local();
        let Some(entry) = local.get_mut(room) else {
            return;
        };
        entry.members.remove(&local_id);
        entry.held.remove(&local_id);
        entry.recovered_upto.remove(&local_id);
        entry.outbounds = None;
        if entry.members.is_empty() && entry.held.is_empty() {
            // Dropping the entry drops its subscription: the gateway unsubscribes.
            local.remove(room);
            metrics::gauge!("rallypoint_gateway_rooms").set(local.len() as f64);
        }
    }
}

/// Subscribes to the room's channel for the local room entry of `generation`, with a
/// callback that delivers each message to the local members; keeps the subscription in
/// that entry, or drops it (unsubscribing) if the entry is gone by then.
async fn subscribe(
    inner: Arc<Inner>,
    room: RoomId,
    generation: u64,
    ready: watch::Sender<Option<Result<(), String>>>,
) {
    let channel = inner.keys.room(room.as_str()).channel();
    let handler = {
        // Weak: the subscription lives in the room table, which `Inner` owns.
        let inner = Arc::downgrade(&inner);
        let room = room.clone();
        move |payload: bytes::Bytes| on_message(&inner, &room, &payload)
    };
    match inner.subscriptions.subscribe_with(&channel, handler).await {
        Ok(subscription) => {
            let mut local = inner.local();
            match local.get_mut(&room) {
                Some(entry) if entry.generation == generation => {
                    entry.subscription = Some(subscription);
                }
                // The last member left while subscribing: unsubscribe (outside the lock).
                _ => {
                    drop(local);
                    drop(subscription);
                }
            }
            ready.send_replace(Some(Ok(())));
        }
        Err(err) => {
            tracing::warn!(room = %room, error = %err, "cannot subscribe to a room channel");
            // Forget this attempt so the next join tries again.
            let mut local = inner.local();
            if local.get(&room).is_some_and(|r| r.generation == generation) {
                local.remove(&room);
            }
            drop(local);
            ready.send_replace(Some(Err(err.to_string())));
        }
    }
}

/// One message on a room channel (run by the pub/sub dispatcher: decode, hand on).
fn on_message(inner: &Weak<Inner>, room: &RoomId, payload: &[u8]) {
    let Some(upgraded) = inner.upgrade() else {
        return;
    };
    let envelope = match proto::decode_event(payload, proto::MAX_EVENT_BYTES) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(room = %room, error = %err, "undecodable message on a room channel");
            return;
        }
    };
    match envelope.event {
        Event::RoomPresence {
            room: to,
            joined,
            left,
        } if to == *room => gather_presence(&upgraded, inner, room, joined, left),
        _ => {
            if let Some(message) = message_of(room, envelope) {
                deliver(&upgraded, room, &message);
            }
        }
    }
}

/// Adds presence changes to `room`'s pending push, starting its timer if it is the first.
fn gather_presence(
    inner: &Inner,
    weak: &Weak<Inner>,
    room: &RoomId,
    joined: Vec<proto::PlayerId>,
    left: Vec<proto::PlayerId>,
) {
    let mut local = inner.local();
    let Some(entry) = local.get_mut(room) else {
        return;
    };
    let first = entry.presence.is_none();
    let pending = entry.presence.get_or_insert_with(HashMap::new);
    merge_presence(pending, joined, left);
    if first {
        let weak = weak.clone();
        let room = room.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PRESENCE_EVERY).await;
            if let Some(inner) = weak.upgrade() {
                push_presence(&inner, &room);
            }
        });
    }
}

/// The latest change of each player wins: joined then left within one push is `left`.
fn merge_presence(
    pending: &mut HashMap<proto::PlayerId, bool>,
    joined: Vec<proto::PlayerId>,
    left: Vec<proto::PlayerId>,
) {
    for player in joined {
        pending.insert(player, true);
    }
    for player in left {
        pending.insert(player, false);
    }
}

/// Pushes `room`'s gathered presence changes to its local members as one `room.presence`.
fn push_presence(inner: &Inner, room: &RoomId) {
    let pending = match inner.local().get_mut(room) {
        Some(entry) => entry.presence.take(),
        None => return,
    };
    let Some(pending) = pending else { return };
    let (mut joined, mut left): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
    for (player, present) in pending {
        if present {
            joined.push(player);
        } else {
            left.push(player);
        }
    }
    joined.sort();
    left.sort();
    let message = ServerMessage::RoomPresence {
        room: room.clone(),
        joined,
        left,
    };
    metrics::counter!("rallypoint_gateway_presence_pushes_total").increment(1);
    deliver(inner, room, &message);
}

/// The `room.message` for `room` an encoded event envelope (from the room's channel or
/// its history) carries, with its offset; `None` (logged) for anything else.
pub(crate) fn room_message(room: &RoomId, payload: &[u8]) -> Option<ServerMessage> {
    match proto::decode_event(payload, proto::MAX_EVENT_BYTES) {
        Ok(envelope) => message_of(room, envelope),
        Err(err) => {
            tracing::warn!(room = %room, error = %err, "undecodable message in a room's history");
            None
        }
    }
}

/// The `room.message` a decoded envelope carries for `room`, with its offset.
fn message_of(room: &RoomId, envelope: proto::EventEnvelope) -> Option<ServerMessage> {
    match envelope.event {
        Event::RoomMessage {
            room: to,
            from,
            body,
            ts,
        } if to == *room => Some(ServerMessage::RoomMessage {
            room: to,
            from,
            body,
            ts,
            offset: envelope.offset,
        }),
        other => {
            tracing::debug!(room = %room, kind = other.type_name(), "ignoring an event on a room channel");
            None
        }
    }
}

fn held(member: &LocalConn) -> Held {
    Held {
        member: member.clone(),
        messages: std::collections::VecDeque::new(),
    }
}

/// Hands one message to every local member of `room`, encoded once per encoding.
fn deliver(inner: &Inner, room: &RoomId, message: &ServerMessage) {
    let members = match inner.local().get_mut(room) {
        Some(local) => {
            let LocalRoom {
                members,
                outbounds,
                held,
                recovered_upto,
                ..
            } = local;
            for held in held.values_mut() {
                if held.messages.len() >= HELD_MESSAGES {
                    held.messages.pop_front();
                    metrics::counter!("rallypoint_gateway_held_dropped_total").increment(1);
                }
                held.messages.push_back(message.clone());
            }
            let recovered =
                already_recovered(recovered_upto, crate::room_history::offset_of(message));
            if recovered.is_empty() {
                outbounds
                    .get_or_insert_with(|| members.values().map(|m| m.outbound.clone()).collect())
                    .clone()
            } else {
                metrics::counter!("rallypoint_gateway_recovered_skipped_total")
                    .increment(recovered.len() as u64);
                members
                    .iter()
                    .filter(|(id, _)| !recovered.contains(id))
                    .map(|(_, m)| m.outbound.clone())
                    .collect()
            }
        }
        None => return,
    };
    let encoded = Encoded::new(message);
    let mut delivered = 0_u64;
    for outbound in members.iter() {
        if outbound
            .push_uncounted(encoded.frame(outbound.encoding()))
            .is_ok()
        {
            delivered += 1;
        }
    }
    metrics::counter!("rallypoint_gateway_deliveries_total", "kind" => "room").increment(delivered);
    metrics::counter!("rallypoint_gateway_messages_out_total", "type" => encoded.type_name())
        .increment(delivered);
}

/// The members a message with `offset` already reached from the room's history (see
/// [`LocalRoom::recovered_upto`]); forgets those it is past. Nothing to do, and nothing
/// allocated, in the usual case of no recent recovery.
fn already_recovered(recovered_upto: &mut HashMap<u64, u64>, offset: Option<u64>) -> Vec<u64> {
    let Some(offset) = offset.filter(|_| !recovered_upto.is_empty()) else {
        return Vec::new();
    };
    let mut skipped = Vec::new();
    recovered_upto.retain(|local_id, upto| {
        if offset <= *upto {
            skipped.push(*local_id);
            true
        } else {
            false
        }
    });
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovered_member_skips_the_live_copies_of_what_it_was_sent_and_then_takes_the_rest() {
        // Member 1 was sent offsets up to 205 from the history, member 2 up to 203.
        let mut upto = HashMap::from([(1, 205), (2, 203)]);
        assert!(
            already_recovered(&mut upto, None).is_empty(),
            "no offset: a presence push"
        );
        let mut skipped = already_recovered(&mut upto, Some(203));
        skipped.sort();
        assert_eq!(skipped, vec![1, 2]);
        // 204 is new to member 2, which is then past its recovery.
        assert_eq!(already_recovered(&mut upto, Some(204)), vec![1]);
        assert_eq!(upto, HashMap::from([(1, 205)]));
        assert_eq!(already_recovered(&mut upto, Some(205)), vec![1]);
        assert!(already_recovered(&mut upto, Some(206)).is_empty());
        assert!(upto.is_empty(), "every member is past its recovery");
    }

    fn ids(names: &[&str]) -> Vec<proto::PlayerId> {
        names
            .iter()
            .map(|n| proto::PlayerId::parse(n).expect("an id"))
            .collect()
    }

    #[test]
    fn a_players_latest_presence_change_wins() {
        let mut pending = HashMap::new();
        merge_presence(&mut pending, ids(&["a", "b"]), vec![]);
        merge_presence(&mut pending, vec![], ids(&["b", "c"]));
        merge_presence(&mut pending, ids(&["c"]), vec![]);
        let mut state: Vec<(String, bool)> = pending
            .into_iter()
            .map(|(p, joined)| (p.to_string(), joined))
            .collect();
        state.sort();
        assert_eq!(
            state,
            vec![
                ("a".to_owned(), true),
                ("b".to_owned(), false),
                ("c".to_owned(), true)
            ]
        );
    }
}
