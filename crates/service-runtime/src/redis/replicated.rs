//! Writes answered only once a replica has them: a result a game server is told was
//! recorded, an allocation a `match.found` announces. Redis replicates asynchronously, so
//! a master that fails right after a write may take it with it; `WAIT` after the write
//! bounds that to writes nobody was told about.
//!
//! `WAIT` counts the writes of the connection it is sent on, and blocks that connection
//! while it waits, so these writes go through clients of their own: a slow replica holds
//! back only them, never the service's other commands. Several of them: fred sends nothing
//! on a connection while a `WAIT` (a blocking command) is out, so the first client carries
//! the writes confirmed in batches (a region's allocations, one `WAIT` per round) and the
//! others, in turn, the writes confirmed one by one (results), none queued behind another's
//! wait. A write and its `WAIT` always use the same client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use fred::prelude::Options;
use fred::prelude::{Client, ClientLike, ServerInterface};
use fred::types::ClusterHash;

/// Clients for writes that must reach `replicas` replicas before they are confirmed.
#[derive(Debug, Clone)]
pub struct Replicated {
    clients: Arc<[Client]>,
    next: Arc<AtomicUsize>,
    /// The `WAIT`s sent so far (what a group of writes confirmed together saves).
    waits: Arc<AtomicU64>,
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
    /// Writes through `clients` (at least one: the first for batches, the others for
    /// single writes), confirmed by `replicas` replicas within `timeout` (0 replicas:
    /// confirmed once written, e.g. a single node in development).
    pub fn new(clients: Vec<Client>, replicas: u32, timeout: Duration) -> Self {
        Self {
            clients: clients.into(),
            next: Arc::default(),
            waits: Arc::default(),
            replicas,
            timeout,
        }
    }

    /// No confirmation asked for: writes go through `client` and are done when made.
    pub fn unconfirmed(client: Client) -> Self {
        Self::new(vec![client], 0, Duration::ZERO)
    }

    /// A client for one write and its confirmation (the single-write clients in turn).
    pub fn single(&self) -> &Client {
        let singles = self.clients.len().saturating_sub(1).max(1);
        let n = self.next.fetch_add(1, Ordering::Relaxed) % singles;
        &self.clients[(n + 1).min(self.clients.len() - 1)]
    }

    /// The client for writes that one confirmation covers together (always the same).
    pub fn batches(&self) -> &Client {
        &self.clients[0]
    }

    /// How many `WAIT`s these clients have sent.
    pub fn waits_sent(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Every client (to close them).
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// Waits until the replicas wanted have every write `client` made so far to the
    /// master of `key`'s slot. `Ok(Err(_))`: not within the timeout.
    pub async fn confirm(
        &self,
        client: &Client,
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
        self.waits.fetch_add(1, Ordering::Relaxed);
        let acked: i64 = client
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
