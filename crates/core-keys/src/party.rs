//! Keys of one party, all in the slot `{party:<party>}`.
//!
//! A party is one hash, so every change to it (a join, a kick, a new leader, a lapse) is
//! one script on one key. Which party a player is in is kept on the player's side too
//! ([`crate::PlayerKeys::party`]); the party's hash is the truth when the two disagree.

/// Keys of one party. Built by [`crate::Keys::party`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyKeys {
    prefix: String,
}

impl PartyKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// Hash: `leader`, `max_size`, `seq` (joins so far); per member `m:<player>` (when
    /// the membership lapses, ms since the epoch) and `o:<player>` (their join number);
    /// per open invite `i:<player>` (when it expires). Expires when its last membership
    /// and invite would have.
    pub fn state(&self) -> String {
        format!("{}:party", self.prefix)
    }
}
