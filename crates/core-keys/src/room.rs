//! Keys of one chat room, all in the slot `{r:<room>}`.
//!
//! Each membership carries an expiry that the gateway holding the member keeps pushing
//! forward with its heartbeat, and the connection that owns it. A gateway that dies
//! (SIGKILL, no cleanup) stops refreshing, so its members lapse within the session TTL and
//! are pruned before any count is taken; a stale connection's cleanup cannot remove a
//! membership a newer connection of the same player took over.

/// Keys of one room. Built by [`crate::Keys::room`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomKeys {
    prefix: String,
}

impl RoomKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Sorted set: member player id scored by the time the membership lapses (ms).
    pub fn members(&self) -> String {
        self.key("members")
    }

    /// Hash: member player id -> the connection id that holds the membership.
    pub fn owners(&self) -> String {
        self.key("owners")
    }

    /// Sharded channel: messages to the room; every gateway with a local member
    /// subscribes (by reference count).
    pub fn channel(&self) -> String {
        self.key("messages")
    }

    /// Sorted set, in a room that keeps history: each kept message as published (the
    /// encoded event envelope with its offset), scored by its offset.
    pub fn history(&self) -> String {
        self.key("history")
    }

    /// String, in a room that keeps history: the offset of its latest message.
    pub fn offset(&self) -> String {
        self.key("offset")
    }
}
