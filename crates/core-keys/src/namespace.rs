//! The namespace prefix and the [`Keys`] builder that every key family hangs off.
//!
//! The namespace goes in front of every key and channel (`<ns>:{tag}:name`), outside the
//! hash tag: it separates deployments and test runs without changing which slot a key
//! lands on.

use std::sync::Arc;

use crate::{DataKeys, InstanceKeys, MatchKeys, PlayerKeys, PoolKeys, QueueKeys, RoomKeys};

/// The longest namespace accepted: keys stay short on the hot path.
pub const MAX_NAMESPACE_LEN: usize = 32;

/// Why a namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_NAMESPACE_LEN} characters")]
    TooLong,
    #[error("may only contain letters, digits, '_', '-' and '.' (found {0:?})")]
    BadCharacter(char),
}

/// Builds every key and channel name of one deployment. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    ns: Arc<str>,
}

impl Keys {
    /// A builder for the namespace `ns`, which must be 1 to 32 characters of
    /// `[A-Za-z0-9_.-]`: no `:` (it separates key parts) and no braces (they would change
    /// the hash tag).
    pub fn new(ns: &str) -> Result<Self, NamespaceError> {
        if ns.is_empty() {
            return Err(NamespaceError::Empty);
        }
        if ns.len() > MAX_NAMESPACE_LEN {
            return Err(NamespaceError::TooLong);
        }
        if let Some(bad) = ns
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(NamespaceError::BadCharacter(bad));
        }
        Ok(Self { ns: ns.into() })
    }

    /// The namespace itself.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// `<ns>:{<tag>}`: the prefix every key of one slot group starts with.
    pub(crate) fn tagged(&self, tag: &str) -> String {
        debug_assert!(
            !tag.contains(['{', '}']),
            "ids never contain braces: proto's id rules forbid them"
        );
        format!("{}:{{{}}}", self.ns, tag)
    }

    /// Keys of one player (session, inbox, ticket marker, ...).
    pub fn player(&self, player: &str) -> PlayerKeys {
        PlayerKeys::new(self.tagged(&format!("p:{player}")))
    }

    /// Keys of one queue in one region.
    pub fn queue(&self, queue: &str, region: &str) -> QueueKeys {
        QueueKeys::new(self.tagged(&format!("q:{queue}:{region}")))
    }

    /// Keys of one region's server pool.
    pub fn pool(&self, region: &str) -> PoolKeys {
        PoolKeys::new(self.tagged(&format!("pool:{region}")))
    }

    /// Keys of one chat room.
    pub fn room(&self, room: &str) -> RoomKeys {
        RoomKeys::new(self.tagged(&format!("r:{room}")))
    }

    /// Keys of one party.
    pub fn party(&self, party: &str) -> crate::PartyKeys {
        crate::PartyKeys::new(self.tagged(&format!("party:{party}")))
    }

    /// Keys of one match.
    pub fn match_(&self, match_id: &str) -> MatchKeys {
        MatchKeys::new(self.tagged(&format!("m:{match_id}")))
    }

    /// Keys of the instance registry.
    pub fn instances(&self) -> InstanceKeys {
        InstanceKeys::new(self.clone())
    }

    /// Keys of one kind of static game data.
    pub fn data(&self, kind: &str) -> DataKeys {
        DataKeys::new(self.tagged(&format!("data:{kind}")))
    }

    /// `<ns>:{servers}:region`: hash from game-server id to its region, so calls that name
    /// only the server (heartbeat, ack) find the region's slot in one lookup.
    pub fn server_regions(&self) -> String {
        format!("{}:region", self.tagged("servers"))
    }

    /// `<ns>:{servers}:drained:<id>`: a game server that left the pool by a drain (an
    /// operator's, or its own `DELETE`), remembered for [`crate::ttl::DRAINED_SERVER`] so
    /// its next heartbeat learns it must not register again by itself (410).
    pub fn server_drained(&self, server: &str) -> String {
        format!("{}:drained:{server}", self.tagged("servers"))
    }

    /// `<ns>:{lease:<unit>}`: a lease for work that has no natural slot of its own.
    /// Work that does (a queue, a region) uses the lease key of its own family, so the
    /// scripts that do the work can check the lease in the same slot (fencing).
    pub fn lease(&self, unit: &str) -> String {
        self.tagged(&format!("lease:{unit}"))
    }

    /// `<ns>:{warm}:requests`: sharded channel on which services ask the cache-warmer to
    /// load profiles now.
    pub fn warm_requests_channel(&self) -> String {
        format!("{}:requests", self.tagged("warm"))
    }

    /// `<ns>:{warm}:block-changes`: list, the outbox of block list changes (JSON, oldest
    /// first) the gateway leaves and the cache-warmer applies to PostgreSQL.
    pub fn block_changes(&self) -> String {
        format!("{}:block-changes", self.tagged("warm"))
    }

    /// `<ns>:{warm}:lease:blocks`: lease of the cache-warmer instance applying the block
    /// changes; in the outbox's slot, so taking a batch off it is fenced by the lease.
    pub fn block_changes_lease(&self) -> String {
        format!("{}:lease:blocks", self.tagged("warm"))
    }

    /// `<ns>:{cache}:invalidate`: sharded channel every instance that keeps a local cache
    /// subscribes to: the cache-warmer announces here what it changed in Redis, and local
    /// copies of it are dropped. Rare traffic, so one shard carries it; sharded like every
    /// other channel so the one subscription manager keeps it through failovers.
    pub fn cache_invalidate_channel(&self) -> String {
        format!("{}:invalidate", self.tagged("cache"))
    }

    /// `<ns>:{broadcast}:notices`: sharded channel every gateway subscribes to: a server
    /// API broadcast is published here once and each gateway hands it to every socket it
    /// holds (one message per gateway, not one per player).
    pub fn broadcast_channel(&self) -> String {
        format!("{}:notices", self.tagged("broadcast"))
    }

    /// `<ns>:{data}:kinds`: set of the game data kinds PostgreSQL holds, written by the
    /// cache-warmer: a reader asked for a kind not in it answers "no such document" at
    /// once instead of asking for a warm-up.
    pub fn data_kinds(&self) -> String {
        format!("{}:kinds", self.tagged("data"))
    }

    /// `<ns>:{cache}:stats`: hash of cache lookups by layer and outcome (`local_hit`,
    /// `redis_hit`, `redis_miss`), added to by every reader, for a cluster-wide hit rate.
    pub fn cache_stats(&self) -> String {
        format!("{}:stats", self.tagged("cache"))
    }

    /// String: lease of the cache-warmer instance warming profiles (requests and the
    /// reconcile scan).
    pub fn profile_warm_lease(&self) -> String {
        self.lease("warm:profiles")
    }

    /// `<ns>:{canary:<instance>:<n>}`: a sharded channel used by the subscription
    /// supervisor to prove that one shard's pub/sub path still delivers. `n` is chosen by
    /// the caller until the channel's slot falls on the shard it wants to watch.
    pub fn canary_channel(&self, instance: &str, n: u32) -> String {
        self.tagged(&format!("canary:{instance}:{n}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_rules() {
        assert!(Keys::new("rp").is_ok());
        assert!(Keys::new("test-run_1.a").is_ok());
        assert_eq!(Keys::new(""), Err(NamespaceError::Empty));
        assert_eq!(Keys::new(&"x".repeat(33)), Err(NamespaceError::TooLong));
        assert_eq!(Keys::new("a:b"), Err(NamespaceError::BadCharacter(':')));
        assert_eq!(Keys::new("a{b"), Err(NamespaceError::BadCharacter('{')));
    }

    #[test]
    fn keys_carry_namespace_and_tag() -> Result<(), NamespaceError> {
        let keys = Keys::new("rp")?;
        assert_eq!(keys.player("alice").session(), "rp:{p:alice}:session");
        assert_eq!(keys.queue("duel", "eu").tickets(), "rp:{q:duel:eu}:tickets");
        assert_eq!(keys.cache_invalidate_channel(), "rp:{cache}:invalidate");
        Ok(())
    }
}
