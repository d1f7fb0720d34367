//! Pushes owed after a pub/sub gap. When the gateway's sharded subscriptions are restored
//! (a Redis failover, a shard path gone quiet), whatever was published to a player's inbox
//! in between is gone. Pushes are hints (PROTOCOL.md), but a player waiting for
//! `match.found` must not wait for ever: every connected player whose inbox was
//! subscribed again is told their live match again, as on a reconnect (a repeat is
//! allowed; clients go by match id).

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use service_runtime::subscriptions::SupervisorEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::hub::LocalConn;
use crate::state::Shared;

/// Players looked up at once after a resubscription.
const LOOKUPS_IN_FLIGHT: usize = 32;

/// Follows the subscription supervisor until `stop`.
pub async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let mut events = shared.ctx.subscriptions.events();
    loop {
        let restored = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => event,
        };
        let owed: Vec<LocalConn> = match restored {
            Ok(SupervisorEvent::Resubscribed { channels, .. }) => {
                let channels: HashSet<&str> = channels.iter().map(AsRef::as_ref).collect();
                shared
                    .hub
                    .snapshot()
                    .into_iter()
                    .filter(|conn| {
                        let inbox = shared.ctx.keys.player(conn.player.as_str()).inbox_channel();
                        channels.contains(inbox.as_str())
                    })
                    .collect()
            }
            Ok(SupervisorEvent::ShardPathDead { .. }) => continue,
            // Events were missed: which inboxes came back is unknown, so all are owed.
            Err(RecvError::Lagged(_)) => shared.hub.snapshot(),
            Err(RecvError::Closed) => return,
        };
        if !owed.is_empty() {
            tell_live_matches(&shared, owed).await;
        }
    }
}

/// Sends each connection its player's live `match.found`, if there is one.
async fn tell_live_matches(shared: &Shared, conns: Vec<LocalConn>) {
    let checked = conns.len();
    let told = futures::stream::iter(conns)
        .map(|conn| async move {
            match shared.matches.owed_match_found(conn.player.as_str()).await {
                Ok(Some(found)) => {
                    conn.outbound.send(&found);
                    1
                }
                Ok(None) => 0,
                Err(err) => {
                    tracing::debug!(player = %conn.player, error = %err, "cannot look up the live match; queue.status tells it");
                    0
                }
            }
        })
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .fold(0_u64, |sum, n| async move { sum + n })
        .await;
    metrics::counter!("rallypoint_gateway_owed_pushes_total").increment(told);
    tracing::info!(
        checked,
        told,
        "inboxes subscribed again: live matches told again"
    );
}
