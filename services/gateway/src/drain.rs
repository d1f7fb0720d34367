//! Draining on SIGTERM: tell every client to reconnect elsewhere, give them a grace period
//! to do so, close the rest with 4002, and wait until every connection has cleaned up its
//! session and rooms. The runtime has already turned readiness to 503 and the listener
//! stops accepting; the drain deadline bounds all of it.

use std::time::Duration;

use proto::server::reason;
use proto::{CloseCode, ServerMessage};

use crate::state::Shared;

pub async fn run(shared: &Shared) {
    let connections = shared.hub.snapshot();
    tracing::info!(
        connections = connections.len(),
        grace_ms = shared.config.drain_grace_ms,
        "draining: telling every client to reconnect to another gateway"
    );
    let spread = shared.config.reconnect_spread_ms;
    for conn in &connections {
        conn.outbound.send(&ServerMessage::Reconnect {
            reason: reason::DRAINING.to_owned(),
            after_ms: fastrand::u64(0..=spread),
        });
    }
    shared.tracker.close();
    let grace = Duration::from_millis(shared.config.drain_grace_ms);
    if tokio::time::timeout(grace, shared.tracker.wait())
        .await
        .is_ok()
    {
        tracing::info!("every client left within the grace period");
        return;
    }
    let left = shared.hub.snapshot();
    tracing::info!(
        connections = left.len(),
        "grace period over: closing the remaining connections with 4002"
    );
    for conn in &left {
        conn.outbound.close(CloseCode::Draining);
    }
    shared.tracker.wait().await;
    tracing::info!("every connection closed and cleaned up");
}
