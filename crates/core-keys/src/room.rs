//! Keys of one chat room, all in the slot `{r:<room>}`.
//!
//! Membership is kept per gateway so a gateway that died can be swept out of every room
//! it held members of, and counts stay true.

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

    /// Hash: member player id -> gateway instance id holding them.
    pub fn members(&self) -> String {
        self.key("members")
    }

    /// Sharded channel: messages to the room; every gateway with a local member
    /// subscribes (by reference count).
    pub fn channel(&self) -> String {
        self.key("messages")
    }
}
