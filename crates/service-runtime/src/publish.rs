//! The one publish path: `SPUBLISH` with a bounded retry, and the push to a player's
//! inbox that every service uses to reach a client.
//!
//! A push that reaches no socket (nobody subscribed to the player's inbox) takes a second
//! step, `inbox_keep.lua`, in the player's slot: a player between sockets (their session
//! closed less than the reconnect grace ago) has it kept for their next socket, which
//! gets it right after `welcome`; a session that opened meanwhile hears it published
//! again. The hot path (the player is connected) stays one `SPUBLISH`.
//!
//! A publish can fail while a slot migrates or a master fails over (docs/STACK.md
//! measured one such failure); a couple of quick retries ride over that. Pub/sub is a
//! hint on top of state already written (docs/ARCHITECTURE.md), so after the retries the error is
//! returned and counted, and the reader reconciles from state.

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{Client, PubsubInterface};
use fred::types::Value;

use crate::script::LuaScript;

static INBOX_KEEP: LuaScript<String> = LuaScript::new(include_str!("publish/inbox_keep.lua"));

/// Pushes kept for a player between sockets at most; past it the oldest are dropped.
pub const MAX_KEPT_PUSHES: i64 = 256;

/// Where a push to a player went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// A gateway holding their socket took it.
    Socket,
    /// They are between sockets: kept for their next one.
    Kept,
    /// They have a session, but its gateway is not subscribed just now (resubscribing).
    Unreachable,
    /// Not connected, and not between sockets.
    Offline,
}

/// Publishes to sharded channels.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    attempts: u32,
    backoff: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher on `client` (a command connection, not a subscriber one), trying each
    /// publish up to 3 times, 25 ms then 50 ms apart.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            attempts: 3,
            backoff: Duration::from_millis(25),
        }
    }

    /// `SPUBLISH channel payload`: the number of subscribers that got it (on the shard).
    pub async fn publish(&self, channel: &str, payload: Bytes) -> Result<u64, fred::error::Error> {
        let mut attempt = 1;
        loop {
            match self
                .client
                .spublish::<u64, _, _>(channel, payload.clone())
                .await
            {
                Ok(receivers) => {
                    metrics::counter!("rallypoint_pubsub_published_total").increment(1);
                    return Ok(receivers);
                }
                Err(err) if attempt < self.attempts => {
                    metrics::counter!("rallypoint_pubsub_publish_retries_total").increment(1);
                    tracing::debug!(channel, attempt, error = %err, "spublish failed; retrying");
                    tokio::time::sleep(self.backoff * 2_u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
                Err(err) => {
                    metrics::counter!("rallypoint_pubsub_publish_failures_total").increment(1);
                    return Err(err);
                }
            }
        }
    }
}

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot encode the event: {0}")]
    Encode(#[from] proto::EncodeError),
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
}

impl Publisher {
    /// Publishes `event` on `channel` in a current envelope, which carries the current
    /// span's trace context, so the receiver's work joins the same trace: the one way an
    /// event is put on the wire. The number of subscribers that got it (on the shard).
    pub async fn send_event(
        &self,
        channel: &str,
        event: proto::Event,
    ) -> Result<u64, PublishError> {
        let payload = self.envelope(event)?;
        Ok(self.publish(channel, payload).await?)
    }

    /// `event` encoded in a current envelope with the current span's trace context, as
    /// [`Publisher::send_event`] puts it on the wire (for a script that publishes it).
    pub fn envelope(&self, event: proto::Event) -> Result<Bytes, proto::EncodeError> {
        let mut envelope = proto::EventEnvelope::new(event, crate::clock::now_ms());
        envelope.trace = crate::trace::carrier(&tracing::Span::current());
        proto::encode_event(&envelope)
    }

    /// Publishes `event` on `channel` as a hint ([`Publisher::send_event`]): state is
    /// already written, so a lost hint is made good by whoever reads the state. Failures
    /// are logged and counted, not returned. True when it went out.
    pub async fn publish_event(&self, channel: &str, event: proto::Event) -> bool {
        let kind = event.type_name();
        match self.send_event(channel, event).await {
            Ok(_) => true,
            Err(PublishError::Encode(err)) => {
                tracing::error!(event = kind, error = %err, "cannot encode an event");
                false
            }
            Err(PublishError::Redis(err)) => {
                metrics::counter!("rallypoint_events_lost_total", "event" => kind).increment(1);
                tracing::debug!(channel, event = kind, error = %err, "event lost; readers reconcile from state");
                false
            }
        }
    }

    /// Sends `event` to `player`'s inbox, for whichever gateway holds their socket, or
    /// keeps it for their next socket while they are between sockets (module doc).
    pub async fn send_to_player(
        &self,
        keys: &core_keys::Keys,
        player: &str,
        event: proto::Event,
    ) -> Result<Reached, PublishError> {
        self.to_player(keys, player, event, true).await
    }

    /// [`Publisher::send_to_player`] for what only the socket the player has now may take
    /// (a disconnect): never kept; a player between sockets is `Offline` for it.
    pub async fn send_to_socket(
        &self,
        keys: &core_keys::Keys,
        player: &str,
        event: proto::Event,
    ) -> Result<Reached, PublishError> {
        self.to_player(keys, player, event, false).await
    }

    async fn to_player(
        &self,
        keys: &core_keys::Keys,
        player: &str,
        event: proto::Event,
        keep: bool,
    ) -> Result<Reached, PublishError> {
        let payload = self.envelope(event)?;
        if self
            .publish(&keys.player(player).inbox_channel(), payload.clone())
            .await?
            > 0
        {
            return Ok(Reached::Socket);
        }
        if !keep {
            return Ok(Reached::Offline);
        }
        let answer = INBOX_KEEP
            .run(
                &self.client,
                core_keys::scripts::inbox_keep(keys, player),
                vec![Value::Bytes(payload), Value::from(MAX_KEPT_PUSHES)],
            )
            .await?;
        Ok(match answer.as_str() {
            "delivered" => Reached::Socket,
            "kept" => {
                metrics::counter!("rallypoint_pushes_kept_total").increment(1);
                Reached::Kept
            }
            "unreachable" => Reached::Unreachable,
            _ => Reached::Offline,
        })
    }

    /// Pushes `message` to `player` ([`Publisher::send_to_player`]). A hint like every
    /// publish: a player who misses it (not connected, or their gateway resubscribing)
    /// finds the state with `queue.status`.
    pub async fn push_to_player(
        &self,
        keys: &core_keys::Keys,
        player: &str,
        message: proto::ServerMessage,
    ) {
        let Ok(player_id) = proto::Id::parse(player) else {
            tracing::warn!(player, "not pushing to an invalid player id");
            return;
        };
        let event = proto::Event::Deliver {
            player: player_id,
            conn: None,
            message,
        };
        match self.send_to_player(keys, player, event).await {
            Ok(Reached::Socket | Reached::Kept | Reached::Offline) => {}
            Ok(Reached::Unreachable) => {
                metrics::counter!("rallypoint_pushes_lost_total").increment(1);
            }
            Err(err) => {
                metrics::counter!("rallypoint_pushes_lost_total").increment(1);
                tracing::debug!(player, error = %err, "push lost; the player finds the state on asking");
            }
        }
    }
}
