//! Keys of one player, all in the player's slot `{p:<player>}`.
//!
//! Connect (write the session, replace an older one) and the per-player rate limit are
//! single-slot steps because everything they touch is here.

/// Keys of one player. Built by [`crate::Keys::player`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerKeys {
    prefix: String,
}

impl PlayerKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Hash: the live session (gateway id, connection id, connected at; and what its
    /// heartbeat must learn: `muted_until` set by the server API, `chat_saved` by a
    /// replaced connection's close). TTL kept alive by heartbeats
    /// ([`crate::ttl::SESSION`]).
    pub fn session(&self) -> String {
        self.key("session")
    }

    /// String: when the player's last session ended, ms since the epoch (presence), kept
    /// [`crate::ttl::LAST_SEEN`].
    pub fn last_seen(&self) -> String {
        self.key("seen")
    }

    /// String: until when the studio's backend muted the player, ms since the epoch
    /// (expires then): their `room.send` and `whisper` are refused meanwhile.
    pub fn mute(&self) -> String {
        self.key("mute")
    }

    /// Hash: who the player blocked (one field per blocked player), and the field `""`
    /// once the list was loaded from PostgreSQL. No TTL: the gateway changes it at once
    /// (and leaves each change in [`crate::Keys::block_changes`]); the cache-warmer loads
    /// it when it is not there.
    pub fn blocks(&self) -> String {
        self.key("blocks")
    }

    /// String, while the player is between sockets: their last session closed and the
    /// reconnect grace has not passed (expires with it). Pushes meanwhile are kept.
    pub fn away(&self) -> String {
        self.key("away")
    }

    /// List: the pushes sent while the player was between sockets (encoded event
    /// envelopes, oldest first), delivered after `welcome` on their next socket.
    pub fn kept_pushes(&self) -> String {
        self.key("kept-pushes")
    }

    /// Sharded channel: every push to this player (match found, whisper, kick, ...).
    /// The gateway holding the player's socket subscribes to it.
    pub fn inbox_channel(&self) -> String {
        self.key("inbox")
    }

    /// String: which queue, region and ticket the player waits in. Enforces one ticket per
    /// player across all queues.
    pub fn ticket(&self) -> String {
        self.key("ticket")
    }

    /// String: the player's live match, if any.
    pub fn current_match(&self) -> String {
        self.key("match")
    }

    /// Hash: the cached profile (display name, rating, games played, version).
    pub fn profile(&self) -> String {
        self.key("profile")
    }

    /// String: the match whose result is posted but whose rating change is not yet in the
    /// profile. While it exists a `queue.join` waits (bounded) rather than queue at the old
    /// rating. Set by the server pool before the result enters the outbox, removed by the
    /// cache-warmer with the profile refresh after the commit; [`crate::ttl::RATING_PENDING`]
    /// bounds it if the result is never committed.
    pub fn rating_pending(&self) -> String {
        self.key("rating-pending")
    }

    /// String: when the player's chat budget (`room.send`, `whisper`) is full again, ms
    /// since the epoch; shared by every gateway so the limit holds across reconnects.
    pub fn chat_rate(&self) -> String {
        self.key("chat-budget")
    }

    /// Hash: the player's connect and abuse record across gateways (connects in the
    /// current minute, strikes in the current minute, refused until when), so neither a
    /// reconnect nor another gateway starts them from zero. Expires with its longest window.
    pub fn guard(&self) -> String {
        self.key("guard")
    }

    /// String: until when (ms since the epoch) the player may not queue, after declining
    /// (or not answering) a ready check; expires then.
    pub fn cooldown(&self) -> String {
        self.key("cooldown")
    }

    /// Set: the rooms the player is in, so a reconnect on another gateway restores them.
    pub fn rooms(&self) -> String {
        self.key("rooms")
    }

    /// String: the party the player is in. Kept alive with the session, like the rooms;
    /// the party's own hash is the truth (a pointer to a party that does not list the
    /// player is stale and is cleared by whoever finds it).
    pub fn party(&self) -> String {
        self.key("party")
    }

    /// Sorted set: the parties that invited the player, scored by when each invite
    /// expires (ms since the epoch): bounds the invites pending for one player.
    pub fn party_invites(&self) -> String {
        self.key("party-invites")
    }
}
