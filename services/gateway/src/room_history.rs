//! Room history: the last messages of rooms whose kind keeps them ([`crate::room_kinds`]),
//! in the room's slot, written in the same step that publishes them.
//!
//! A message to such a room is not a plain `SPUBLISH`: `room_publish.lua` gives it the
//! room's next offset, adds it to the room's kept messages (a sorted set by offset,
//! trimmed to `history_len`, living `history_ttl_ms` after the latest message) and
//! publishes it with the offset, in one step; so history and live delivery agree on every
//! message and on its place, and the step costs one `EVALSHA` where a plain room costs one
//! `SPUBLISH` (no extra round trip). The offset travels in the event envelope
//! (`EventEnvelope::offset`), appended by the script to the envelope the gateway encoded.
//!
//! Readers: `room.join` with `since` (every message after an offset, and whether the
//! history still reaches back that far) and `room.history` (the newest messages, paging
//! back).

use bytes::Bytes;
use core_keys::{Keys, scripts};
use fred::prelude::Client;
use fred::types::Value;
use proto::{Event, HistoryMessage, RoomId, ServerMessage};
use service_runtime::publish::{PublishError, Publisher};
use service_runtime::script::LuaScript;

use crate::room_kinds::{History, RoomKinds};

static PUBLISH: LuaScript<(u64, u64)> =
    LuaScript::new(include_str!("room_history/room_publish.lua"));
static READ: LuaScript<Vec<Value>> = LuaScript::new(include_str!("room_history/room_history.lua"));

/// The messages after an offset, for a `room.join` with `since`.
#[derive(Debug)]
pub struct Recovery {
    /// Every message after `since` is in `messages` (the history reaches back that far).
    pub recovered: bool,
    /// `room.message`s with their offsets, oldest first.
    pub messages: Vec<ServerMessage>,
    /// The offset of the last of them, or `since` when there are none: live messages up
    /// to this one were recovered and are not delivered again.
    pub upto: u64,
}

/// Histories of the rooms that keep one. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RoomHistory {
    keys: Keys,
    redis: Client,
    publisher: Publisher,
    kinds: RoomKinds,
}

impl RoomHistory {
    pub fn new(keys: Keys, redis: Client, publisher: Publisher, kinds: RoomKinds) -> Self {
        Self {
            keys,
            redis,
            publisher,
            kinds,
        }
    }

    /// The room kinds this history follows.
    pub fn kinds(&self) -> &RoomKinds {
        &self.kinds
    }

    /// Publishes `event` (a room message) to `room`: kept and published in one step when
    /// the room keeps a history, a plain publish otherwise. The number of gateways that
    /// got it.
    pub async fn publish(&self, room: &RoomId, event: Event) -> Result<u64, PublishError> {
        let channel = self.keys.room(room.as_str()).channel();
        let Some(history) = self.kinds.history(room.as_str()) else {
            return self.publisher.send_event(&channel, event).await;
        };
        let envelope: Bytes = self.publisher.envelope(event)?;
        let (_offset, gateways) = PUBLISH
            .run(
                &self.redis,
                scripts::room_publish(&self.keys, room.as_str()),
                vec![
                    Value::Bytes(envelope),
                    Value::from(history.len as i64),
                    Value::from(history.ttl.as_millis() as i64),
                ],
            )
            .await?;
        metrics::counter!("rallypoint_pubsub_published_total").increment(1);
        Ok(gateways)
    }

    /// `room`'s latest offset, for a join: every message after it reaches a member that
    /// joined before this read. A room without messages yet gets its first offset now
    /// (the clock in microseconds, as `room_publish.lua` would seed it), so the first
    /// message is one more. `None` when the room keeps no history.
    pub async fn latest(&self, room: &RoomId) -> Result<Option<u64>, fred::error::Error> {
        use fred::prelude::KeysInterface;
        let Some(history) = self.kinds.history(room.as_str()) else {
            return Ok(None);
        };
        let seed = service_runtime::clock::now_ms().saturating_mul(1000);
        let previous: Option<String> = self
            .redis
            .set(
                self.keys.room(room.as_str()).offset(),
                seed,
                Some(fred::types::Expiration::PX(history.ttl.as_millis() as i64)),
                Some(fred::types::SetOptions::NX),
                true,
            )
            .await?;
        Ok(Some(match previous {
            Some(latest) => latest.parse::<f64>().map_or(seed, |f| f as u64),
            None => seed,
        }))
    }

    /// The messages of `room` after offset `since`, oldest first, and whether the history
    /// reaches back that far. `None` when the room keeps no history.
    pub async fn since(
        &self,
        room: &RoomId,
        since: u64,
    ) -> Result<Option<Recovery>, fred::error::Error> {
        let Some(history) = self.kinds.history(room.as_str()) else {
            return Ok(None);
        };
        let (latest, oldest, kept) = self
            .read(room, history, "after", since.to_string(), history.len)
            .await?;
        let messages: Vec<ServerMessage> = kept
            .iter()
            .filter_map(|bytes| crate::rooms::room_message(room, bytes))
            .collect();
        // Nothing lost between `since` and the oldest kept message: it follows `since`
        // (offsets grow by one per message), or nothing was sent after `since` at all.
        let recovered = match (latest, oldest) {
            (Some(latest), _) if since == latest => true,
            (Some(latest), Some(oldest)) => since < latest && since.saturating_add(1) >= oldest,
            _ => false,
        };
        let upto = messages.iter().filter_map(offset_of).max().unwrap_or(since);
        metrics::counter!(
            "rallypoint_gateway_history_reads_total",
            "kind" => "since",
            "recovered" => if recovered { "true" } else { "false" }
        )
        .increment(1);
        Ok(Some(Recovery {
            recovered,
            messages,
            upto,
        }))
    }

    /// The newest `limit` messages of `room` before offset `before` (the newest of all
    /// without it), newest last. Empty when the room keeps no history.
    pub async fn before(
        &self,
        room: &RoomId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>, fred::error::Error> {
        let Some(history) = self.kinds.history(room.as_str()) else {
            return Ok(Vec::new());
        };
        let upper = before.map_or_else(|| "+inf".to_owned(), |b| b.to_string());
        let (_, _, kept) = self.read(room, history, "before", upper, limit).await?;
        metrics::counter!("rallypoint_gateway_history_reads_total", "kind" => "page", "recovered" => "")
            .increment(1);
        let mut messages: Vec<HistoryMessage> = kept
            .iter()
            .filter_map(|bytes| match crate::rooms::room_message(room, bytes)? {
                ServerMessage::RoomMessage {
                    from,
                    body,
                    ts,
                    offset: Some(offset),
                    ..
                } => Some(HistoryMessage {
                    from,
                    body,
                    ts,
                    offset,
                }),
                _ => None,
            })
            .collect();
        messages.reverse();
        Ok(messages)
    }

    /// `room_history.lua`: the latest offset, the oldest kept one, and the messages.
    async fn read(
        &self,
        room: &RoomId,
        history: History,
        mode: &str,
        bound: String,
        limit: usize,
    ) -> Result<(Option<u64>, Option<u64>, Vec<Bytes>), fred::error::Error> {
        let reply = READ
            .run(
                &self.redis,
                scripts::room_history(&self.keys, room.as_str()),
                vec![mode.to_owned(), bound, limit.min(history.len).to_string()],
            )
            .await?;
        let mut parts = reply.into_iter();
        let number = |value: Option<Value>| -> Option<u64> {
            value
                .and_then(|v| v.as_string())
                .and_then(|s| s.parse::<f64>().ok())
                .map(|f| f as u64)
        };
        let latest = number(parts.next());
        let oldest = number(parts.next());
        let kept = parts
            .filter_map(|v| v.as_bytes().map(Bytes::copy_from_slice))
            .collect();
        Ok((latest, oldest, kept))
    }
}

/// The offset of a `room.message`.
pub fn offset_of(message: &ServerMessage) -> Option<u64> {
    match message {
        ServerMessage::RoomMessage { offset, .. } => *offset,
        _ => None,
    }
}
