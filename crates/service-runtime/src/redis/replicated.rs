//! Writes answered only once a replica has them: a result a game server is told was
//! recorded, an allocation a `match.found` announces. Redis replicates asynchronously, so
//! a master that fails right after a write may take it with it; `WAIT` after the write
//! bounds that to writes nobody was told about.
//!
//! `WAIT` counts the writes of the connection it is sent on, and blocks that connection
//! while it waits, so these writes go through a client of their own: a slow replica holds
//! back only them, never the service's other commands.

use std::time::Duration;

use fred::prelude::Options;
use fred::prelude::{Client, ClientLike, ServerInterface};
use fred::types::ClusterHash;

/// A client for writes that must reach `replicas` replicas before they are confirmed.
#[derive(Debug, Clone)]
pub struct Replicated {
    client: Client,
    replicas: u32,
    timeout: Duration,
}

/// The write was made but no replica confirmed it in time: the caller answers "retry"
/// (every write sent through here is idempotent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{acked} of {wanted} replicas confirmed the write within {timeout_ms} ms")]
pub struct NotReplicated {
    pub acked: i64,
    pub wanted: u32,
    pub timeout_ms: u64,
}

impl Replicated {
    /// Writes through `client`, confirmed by `replicas` replicas within `timeout` (0
    /// replicas: confirmed once written, e.g. a single node in development).
    pub fn new(client: Client, replicas: u32, timeout: Duration) -> Self {
        Self {
            client,
            replicas,
            timeout,
        }
    }

    /// No confirmation asked for: writes go through `client` and are done when made.
    pub fn unconfirmed(client: Client) -> Self {
        Self::new(client, 0, Duration::ZERO)
    }

    /// The client to send the writes through (the one [`Replicated::confirm`] waits on).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits until the replicas wanted have every write this client made so far to the
    /// master of `key`'s slot. `Ok(Err(_))`: not within the timeout.
    pub async fn confirm(
        &self,
        key: &str,
    ) -> Result<Result<(), NotReplicated>, fred::error::Error> {
        if self.replicas == 0 {
            return Ok(Ok(()));
        }
        let options = Options {
            cluster_hash: Some(ClusterHash::Custom(fred::util::redis_keyslot(
                key.as_bytes(),
            ))),
            // WAIT itself blocks up to the timeout: give the command that long and more.
            timeout: Some(self.timeout + Duration::from_secs(2)),
            ..Options::default()
        };
        let timeout_ms = self.timeout.as_millis() as u64;
        let acked: i64 = self
            .client
            .with_options(&options)
            .wait(i64::from(self.replicas), timeout_ms as i64)
            .await?;
        if acked >= i64::from(self.replicas) {
            Ok(Ok(()))
        } else {
            metrics::counter!("rallypoint_redis_unreplicated_writes_total").increment(1);
            Ok(Err(NotReplicated {
                acked,
                wanted: self.replicas,
                timeout_ms,
            }))
        }
    }
}
