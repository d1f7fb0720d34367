//! Keys of the instance registry: which service instances are alive right now.
//!
//! The registry lives in one slot `{inst}` (small, written once per heartbeat per
//! instance), so announcing an instance is one atomic step. Each instance's control
//! channel has its own tag so directed signals spread over the shards.

use crate::Keys;

/// Keys of the instance registry. Built by [`crate::Keys::instances`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceKeys {
    keys: Keys,
}

impl InstanceKeys {
    pub(crate) fn new(keys: Keys) -> Self {
        Self { keys }
    }

    /// Sorted set: `<service>/<instance>` scored by the time its announcement lapses (ms).
    pub fn all(&self) -> String {
        format!("{}:all", self.keys.tagged("inst"))
    }

    /// Hash: one instance's announcement (service, id, version, address, started at).
    pub fn info(&self, service: &str, instance: &str) -> String {
        format!("{}:info:{service}/{instance}", self.keys.tagged("inst"))
    }

    /// Sharded channel: signals addressed to one instance.
    pub fn control_channel(&self, instance: &str) -> String {
        format!("{}:control", self.keys.tagged(&format!("inst:{instance}")))
    }
}
